import { buildOfflineImage } from '../../../sandbox/image.js';
import { defaultPolicy } from '../../../sandbox/policy.js';
import { InputError } from '../../core/errors.js';
import { defineCommand, HELP_FLAG } from '../args.js';

const USAGE = `ferry sandbox build-image   build ferry-sandbox:node18 offline (node 18 from the npm registry)
ferry sandbox policy        print the container policy as JSON (Docker's field names)
ferry sandbox ps            list containers ferry started that still exist, with their run and owner
ferry sandbox gc [--all]    remove those whose orchestrator is gone (--all: every ferry container)`;

export const sandboxCmd = defineCommand({
  name: 'sandbox',
  summary: 'build the offline sandbox image, print the policy, list/remove leftovers (build-image|policy|ps|gc)',
  usage: USAGE,
  flags: {
    ...HELP_FLAG,
    all: { type: 'boolean', help: 'with gc: remove every ferry container, not only those whose orchestrator is gone' },
  },
  details: 'Containers are labelled with their run and owner, so leftovers of a process that died can be found and removed.',
  async run({ values: v, positionals }, { say }) {
    const sub = positionals[0];
    if (sub === 'build-image') {
      const img = await buildOfflineImage({ onProgress: say });
      say(`sandbox image ${img.image} (${img.imageId})`);
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
