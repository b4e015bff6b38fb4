import { replayCommand } from '../../service/commands.js';
import { defineCommand, HELP_FLAG } from '../args.js';
import { runIdArg, URL_FLAGS, WEAK_SANDBOX_FLAG, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const replayCmd = defineCommand({
  name: 'replay',
  summary: SUMMARIES.replay,
  usage: 'ferry replay <run> [--allow-weak-sandbox] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    ...WEAK_SANDBOX_FLAG,
    ...URL_FLAGS,
  },
  details: `Runs the recorded bundle and plan of a run again in a fresh sandbox, as a dry run over the
same legacy keys (the target transaction is rolled back), and compares the checksum of the
rows it would write with the recorded one: "reproduced", or what differs (source rows,
image, program) and why. Exit code 1 when it does not reproduce.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    const id = runIdArg(positionals[0]);
    return replayCommand(withUrls(loadConfig(), v), id, { allowWeak: v['allow-weak-sandbox'] === true }, say);
  },
});
