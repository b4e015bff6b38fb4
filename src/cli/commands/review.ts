import { defineCommand, HELP_FLAG } from '../args.js';
import { reviewCommand } from '../review-command.js';
import { loadPlanWithAnalysis, URL_FLAGS, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const reviewCmd = defineCommand({
  name: 'review',
  summary: SUMMARIES.review,
  usage: 'ferry review <plan.json|plan id> [--by <name>] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    by: { type: 'string', value: '<name>', help: 'who reviews (default the user name)' },
    ...URL_FLAGS,
  },
  details: `Prints the plan, asks for each flagged enum value and FK choice (a number or a name; empty
skips), makes the new revision (every choice checked against the data), then asks whether
to approve, leave a draft, or reject. Answers may be piped to stdin, one per line.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    const config = withUrls(loadConfig(), v);
    const loaded = await loadPlanWithAnalysis(positionals[0] ?? '', config);
    return reviewCommand(config, loaded, v.by ?? config.user, say);
  },
});
