import { renderPlan } from '../../present/render.js';
import { defineCommand, HELP_FLAG } from '../args.js';
import { isPlanSetFile, showPlanSet } from '../plan-set-file.js';
import { loadPlanWithAnalysis } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const showCmd = defineCommand({
  name: 'show',
  summary: SUMMARIES.show,
  usage: 'ferry show <plan.json|plan set.json|plan id> [--json]',
  flags: {
    ...HELP_FLAG,
    json: { type: 'boolean', help: 'print the plan as JSON' },
  },
  details: 'Prints the plan as a person reviews it (or the JSON with --json); a plan set lists its plans in run order.',
  async run({ values: v, positionals }, { say, loadConfig }) {
    const ref = positionals[0] ?? '';
    if (await isPlanSetFile(ref)) {
      await showPlanSet(ref, say);
      return 0;
    }
    const { plan } = await loadPlanWithAnalysis(ref, loadConfig());
    say(v.json ? JSON.stringify(plan, null, 2) : renderPlan(plan));
    return 0;
  },
});
