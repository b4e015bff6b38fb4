import { join, resolve } from 'node:path';
import { reviewItems } from '../../core/artifacts/migration-plan.js';
import { loadModelConfig } from '../../core/llm/config.js';
import { InputError } from '../../core/errors.js';
import { renderPlan } from '../../present/render.js';
import { hasStore, withStore } from '../../service/commands.js';
import { planFilePath, planPaths, saveJson } from '../../store/file-store.js';
import { defineCommand, HELP_FLAG, type CommandContext } from '../args.js';
import { descriptionForReplay, llmMode, modelSummary, planCommand, transcriptPath, type PlanCommandResult } from '../plan-command.js';
import { savePlanSet } from '../plan-set-command.js';
import { describeToPlanOrSet } from '../../chain.js';
import { URL_FLAGS, withConnections, withUrls } from '../shared.js';
import type { FerryConfig } from '../../config.js';
import { SUMMARIES } from './registry.js';

const USAGE = `ferry plan "<description>" [--out <plan.json>] [--source <url>] [--target <url>]
           [--llm claude|off] [--replay <plan.model.json>] [--annotate]`;

/** Stores the plan (a new revision, never an overwrite), writes its files and says what is next. */
async function savePlanned(config: FerryConfig, made: PlanCommandResult, outFlag: string | undefined, say: CommandContext['say']): Promise<void> {
  const { analysis, transcript } = made;
  const plan = hasStore(config) ? (await withStore(config, (store) => store.saveNewPlan(made.plan, analysis))).plan : made.plan;
  // --out is the person's own choice; a path made from the plan id must stay under FERRY_HOME.
  const out = outFlag ? resolve(outFlag) : planFilePath(config.home, plan.id);
  const paths = planPaths(out);
  await saveJson(paths.analysis, analysis);
  const hash = await saveJson(paths.plan, plan);
  if (transcript) await saveJson(transcriptPath(out), transcript);
  say('');
  say(renderPlan(plan));
  say('');
  say(`Plan written to ${out} (sha256 ${hash.slice(0, 12)}…); analysis beside it${transcript ? `, and the model exchange (${transcriptPath(out)})` : ''}.`);
  const modelLine = modelSummary(plan);
  if (modelLine) say(modelLine);
  say(reviewItems(plan).length ? `Next: resolve the flagged items, then: ferry approve ${out} …` : `Next: ferry approve ${out} && ferry run ${out}`);
}

export const planCmd = defineCommand({
  name: 'plan',
  summary: SUMMARIES.plan,
  usage: USAGE,
  flags: {
    ...HELP_FLAG,
    out: { type: 'string', value: '<plan.json>', help: 'where to write the plan (default under FERRY_HOME/plans)' },
    ...URL_FLAGS,
    llm: { type: 'string', value: 'claude|off', help: 'who reads the description (default claude when ANTHROPIC_API_KEY is set)' },
    replay: { type: 'string', value: '<plan.model.json>', help: 'make the plan again from a recorded model exchange, offline' },
    annotate: { type: 'boolean', help: 'let Claude classify tables and explain unclear columns first (advice only)' },
  },
  details: `Analyses both databases (catalogs, keys, FKs, enums, value profiles), reads source table,
filter and target table from the description, and writes the plan (draft) as JSON with the
analysis beside it.

--llm claude (the default when ANTHROPIC_API_KEY is set): Claude reads a description in any
words ("move group 11's roles over, technicians only, keep the old ids, everything active");
its proposal is checked against the analysis and the rules, disagreements go to review. The
model exchange is kept beside the plan (<plan>.model.json); model, tokens and cost are printed.
--replay <plan.model.json>: make the plan again from that exchange, without the network.
--annotate: first let Claude classify tables and explain unclear columns (advice only: the
catalog facts and the rules' classification stand; notes are marked as the model's).

--llm off (the default without a key): the rules read the description. Example:
  ferry plan "Migrate the technician roles of group 11 from dispatch_role into technician_roles"
The description names tables with "from <table>" and "into <table>"; filters as
"of group 11" or "where group_id = 11".

Several tables at once: "move employees, then customers, then invoices" (or "employees,
customers and invoices", "erst X, dann Y", "primero X y luego Y"; "employees into staff" names
another target): the reading decides, so "groups 11 and 12" stays one plan. One plan per table,
ordered parents first over the FK graph (a cycle is refused), and a plan set file listing
them; approve and run the plan set like a plan. A reference to a migrated parent is resolved
through that parent's migration_mappings.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    const description = positionals.join(' ').trim() || (v.replay ? await descriptionForReplay(resolve(v.replay)) : '');
    if (!description) throw new InputError('ARG_MISSING', 'ferry plan needs a description', { hint: USAGE.split('\n')[0]! });
    const config = withUrls(loadConfig(), v);
    const model = loadModelConfig();
    const claude = v.replay !== undefined || llmMode(v.llm, model) === 'claude';
    if (!claude) {
      // The rules read the description once; their reading decides one plan or a plan set ("employees, then customers").
      await withConnections(config, async (conn) => {
        const made = await describeToPlanOrSet({ description, conn, say });
        if (made.kind === 'set') await savePlanSet({ description, planned: made.planned, plansDir: join(config.home, 'plans'), ...(v.out ? { out: v.out } : {}), say });
        else await savePlanned(config, { analysis: made.analysis, plan: made.plan, transcript: null }, v.out, say);
      });
      return 0;
    }
    await withConnections(config, async (conn) => {
      const made = await planCommand({ description, conn, llm: v.llm, replay: v.replay === undefined ? undefined : resolve(v.replay), model, annotate: v.annotate === true, say });
      await savePlanned(config, made, v.out, say);
    });
    return 0;
  },
});
