import { buildOfflineImage } from '../../../sandbox/image.js';
import { defaultPolicy } from '../../../sandbox/policy.js';
import { sandboxNodeSetting } from '../../config.js';
import { InputError } from '../../core/errors.js';
import { defineCommand, HELP_FLAG } from '../args.js';
import { SUMMARIES } from './registry.js';

const USAGE = `ferry sandbox build-image [--node <version>]
                            build ferry-sandbox:node<major> offline, Node from the npm registry
                            (--node 20 or 20.19.5; default FERRY_SANDBOX_NODE, else 18)
ferry sandbox policy        print the container policy as JSON (Docker's field names)
ferry sandbox ps            list containers ferry started that still exist, with their run and owner
ferry sandbox gc [--all]    remove those whose orchestrator is gone (--all: every ferry container)`;

export const sandboxCmd = defineCommand({
  name: 'sandbox',
  summary: SUMMARIES.sandbox,
  usage: USAGE,
  flags: {
    ...HELP_FLAG,
    all: { type: 'boolean', help: 'with gc: remove every ferry container, not only those whose orchestrator is gone' },
    node: { type: 'string', value: '<version>', help: 'with build-image: the Node major or exact version (default FERRY_SANDBOX_NODE, else 18)' },
  },
  details: 'Containers are labelled with their run and owner, so leftovers of a process that died can be found and removed.',
  async run({ values: v, positionals }, { say, loadConfig }) {
    const sub = positionals[0];
    if (sub === 'build-image') {
      const node = v.node === undefined ? loadConfig().sandboxNode : sandboxNodeSetting(v.node, '--node');
      const img = await buildOfflineImage({ node, onProgress: say });
      say(`sandbox image ${img.image} (${img.imageId}, Node ${img.nodeVersion ?? node.major})`);
      return 0;
    }
    if (sub === 'policy') {
      const { policyJson } = await import('../../../sandbox/cli.js');
      say(policyJson(defaultPolicy));
      return 0;
    }
    if (sub === 'ps' || sub === 'gc') {
      const { sandboxGc, sandboxPs } = await import('../../../sandbox/cli.js');
      for (const line of sub === 'ps' ? await sandboxPs() : await sandboxGc({ all: v.all === true })) say(line);
      return 0;
    }
    throw new InputError('ARG_INVALID', `unknown sandbox command "${sub ?? ''}"`, { hint: USAGE });
  },
});
