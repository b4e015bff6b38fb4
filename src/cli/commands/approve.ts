import { applyOverrides, approvePlan, type PlanOverrides } from '../../../agents/planning/index.js';
import { prepareProgram, targetTableOf } from '../../chain.js';
import type { FerryConfig } from '../../config.js';
import { loadModelConfig } from '../../core/llm/config.js';
import { FerryError, InputError } from '../../core/errors.js';
import { createPlanProbe } from '../../db/plan-probe.js';
import { hasStore, withStore } from '../../service/commands.js';
import { saveJson } from '../../store/file-store.js';
import { defineCommand, HELP_FLAG, type CommandContext, type FlagValues } from '../args.js';
import { transformHashes, transformsFor } from '../plan-command.js';
import { approvePlanSet, isPlanSetFile } from '../plan-set-command.js';
import { loadPlanWithAnalysis, URL_FLAGS, withConnections, withUrls, type LoadedPlan } from '../shared.js';

const FLAGS = {
  ...HELP_FLAG,
  map: { type: 'string', multiple: true, value: '"<source value>=<enum value>"', help: 'map a flagged source value to an enum value' },
  fk: { type: 'string', multiple: true, value: '<column>=<id>', help: 'the parent row a foreign key column takes' },
  column: { type: 'string', multiple: true, value: '<target>=<source column>|const:<value>|default', help: "where a target column's value comes from" },
  orphans: { type: 'string', multiple: true, value: '<column>=set_null|fail', help: 'what a reference with no parent mapping becomes' },
  ack: { type: 'string', multiple: true, value: '<n>', help: "go ahead without the description's words #n (an unread span or a derivation)" },
  by: { type: 'string', value: '<name>', help: 'who approves (default the user name)' },
  llm: { type: 'string', value: 'claude|off', help: 'whether a model may write the functions of transform columns' },
  ...URL_FLAGS,
} as const;

function splitPair(raw: string, flag: string): [string, string] {
  const i = raw.lastIndexOf('=');
  if (i <= 0) throw new InputError('FLAG_INVALID', `--${flag} takes <left>=<right>, got "${raw}"`, { hint: `e.g. --${flag} "MT-Quality Check=manufacturing"` });
  return [raw.slice(0, i), raw.slice(i + 1)];
}

function overridesFrom(v: FlagValues<typeof FLAGS>): PlanOverrides {
  const pairs = (list: string[] | undefined, flag: string) => (list ?? []).map((m) => splitPair(m, flag));
  return {
    map: pairs(v.map, 'map').map(([source, target]) => ({ source, target })),
    fk: pairs(v.fk, 'fk').map(([column, value]) => ({ column, value })),
    column: pairs(v.column, 'column').map(([target, origin]) => ({ target, origin })),
    orphans: pairs(v.orphans, 'orphans').map(([column, policy]) => ({ column, policy })),
    ack: (v.ack ?? []).map((n) => {
      if (!/^[1-9]\d*$/.test(n)) throw new InputError('FLAG_INVALID', `--ack takes the number of the description's words, got "${n}"`, { hint: 'the plan lists them as "(#3)"; e.g. --ack 3' });
      return Number(n);
    }),
  };
}

/** The overrides applied (each checked against the data) as a new revision; the plan itself when there are none. */
async function revise(config: FerryConfig, loaded: LoadedPlan, o: PlanOverrides, by: string, say: CommandContext['say']) {
  const { plan, analysis, paths } = loaded;
  if ((o.map?.length ?? 0) + (o.fk?.length ?? 0) + (o.column?.length ?? 0) + (o.orphans?.length ?? 0) + (o.ack?.length ?? 0) === 0) return plan;
  const targetTable = targetTableOf(plan, analysis);
  const next = await withConnections(config, (conn) =>
    applyOverrides(plan, o, by, createPlanProbe(conn.source, conn.target), new Date(), (c) => targetTable.columns.find((x) => x.name === c)?.nullable),
  );
  await saveJson(paths.plan, next);
  say(`Revision ${next.revision}: ${next.overrides.slice(plan.overrides.length).map((x) => x.what).join('; ')}`);
  return next;
}

/**
 * The program is written now, type-checked, so a person can read what will run before running
 * it — model-written functions included (kept for `ferry run`, tied to this revision, pinned).
 */
async function writeProgram(config: FerryConfig, loaded: LoadedPlan, approved: LoadedPlan['plan'], llm: string | undefined, say: CommandContext['say']): Promise<void> {
  const { paths, analysis } = loaded;
  const transforms = await transformsFor({ planPath: paths.plan, plan: approved, analysis, llm, model: loadModelConfig(), say }).catch((e: unknown) => {
    if (e instanceof FerryError && e.code === 'MODEL_NOT_CONFIGURED') {
      say(`   the program is not written yet: ${e.message}; approve again once a model is configured (ferry run never asks a model for code)`);
      return null;
    }
    throw e;
  });
  // The approval pins each function's sha256: ferry run takes exactly these, never new ones.
  if (transforms && hasStore(config)) await withStore(config, (store) => store.pinTransforms(approved, transformHashes(transforms.bodies)));
  if (transforms !== null) {
    const program = await prepareProgram({ plan: approved, analysis, dir: paths.bundleDir, ...(transforms ? { transforms } : {}) });
    say(`   the program that will run: ${program.programPath}`);
  }
}

export const approveCmd = defineCommand({
  name: 'approve',
  summary: 'resolve flagged values (--map/--fk/--column) and approve',
  usage: `ferry approve <plan.json|plan id> [--map "<source value>=<enum value>"]... [--fk <column>=<id>]...
                [--column <target>=<source column>|const:<value>|default]... [--by <name>]
                [--orphans <column>=set_null|fail]... [--ack <n>]...
ferry approve <plan set.json> [--by <name>]`,
  flags: FLAGS,
  details: `Applies the overrides (each one checked against the data: enum values must exist, parent
rows must exist), then approves. Refuses while anything still needs review.
--orphans: what a reference with no parent mapping (an orphan in the legacy data) becomes:
set_null (only where the target column is nullable) or fail (the run stops, naming it).
--ack <n>: go ahead without the description's words #n (words the rules did not read, or a
derivation you do not want); the acknowledgement is recorded in the plan's overrides.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    const config = withUrls(loadConfig(), v);
    const by = v.by ?? config.user;
    const ref = positionals[0] ?? '';
    if (await isPlanSetFile(ref)) {
      await withStore(config, (store) => approvePlanSet(ref, by, store, say));
      return 0;
    }
    const loaded = await loadPlanWithAnalysis(ref, config);
    const { paths, plan, analysis } = loaded;
    const next = await revise(config, loaded, overridesFrom(v), by, say);
    // An approved plan approved again stays as it was: its approval is on record once, never re-stamped.
    const approved = next === plan && plan.status === 'approved' ? plan : approvePlan(next, by);
    await saveJson(paths.plan, approved);
    if (hasStore(config)) await withStore(config, async (store) => {
      if (next !== plan) await store.savePlan(next, analysis);
      await store.savePlan(approved, analysis, { by });
    });
    say(`✅ Plan ${approved.id} revision ${approved.revision} approved by ${by}.`);
    await writeProgram(config, loaded, approved, v.llm, say);
    say(`   run it: ferry run ${paths.plan}`);
    return 0;
  },
});
