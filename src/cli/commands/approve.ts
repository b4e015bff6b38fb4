import { applyOverrides, approvePlan, type PlanOverrides } from '../../../agents/planning/index.js';
import { prepareProgram, targetTableOf } from '../../chain.js';
import type { FerryConfig } from '../../config.js';
import { loadModelConfig } from '../../core/llm/config.js';
import { FerryError, InputError } from '../../core/errors.js';
import { createPlanProbe } from '../../db/plan-probe.js';
import { hasStore, withStore } from '../../service/commands.js';
import { saveJson } from '../../store/file-store.js';
import { storeBundlePins } from '../../store/bundle-pins.js';
import type { BundlePins } from '../../../agents/code-interpreter/index.js';
import { defineCommand, HELP_FLAG, type CommandContext, type FlagValues } from '../args.js';
import { transformHashes, transformsFor } from '../plan-command.js';
import { approvePlanSet, isPlanSetFile } from '../plan-set-command.js';
import { loadPlanWithAnalysis, URL_FLAGS, withConnections, withUrls, type LoadedPlan } from '../shared.js';
import { SUMMARIES } from './registry.js';

const FLAGS = {
  ...HELP_FLAG,
  map: { type: 'string', multiple: true, value: '"<source value>=<enum value>"', help: 'map a flagged source value (or a glob over them: "MT-*=…") to an enum value' },
  'map-null': { type: 'string', multiple: true, value: '[<enum column>=]<enum value>', help: 'the enum value rows with a NULL source value take' },
  exclude: { type: 'string', multiple: true, value: '"<source value>"', help: 'leave out the rows carrying this enum source value (or a glob over them)' },
  'exclude-null': { type: 'string', multiple: true, value: '<column>', help: 'leave out the rows where this column (or the enum column’s source) is NULL' },
  where: { type: 'string', multiple: true, value: '"<predicate>"', help: 'move only the rows where this condition (column language) is true' },
  unwhere: { type: 'string', multiple: true, value: '"<predicate>"|"*"', help: 'take back a --where of an earlier revision (as written; "*": every one)' },
  include: { type: 'string', multiple: true, value: '"<source value>"', help: 'take back an --exclude: rows carrying this excluded value (or a glob over them) move again' },
  'include-null': { type: 'string', multiple: true, value: '<column>', help: 'take back an --exclude-null: rows where this column is NULL move again' },
  fk: { type: 'string', multiple: true, value: '<column>=<id>', help: 'the parent row a foreign key column takes' },
  column: { type: 'string', multiple: true, value: '<target>=<source column>|<expression>|const:<value>|default', help: "where a target column's value comes from (an expression in the column language: see README)" },
  orphans: { type: 'string', multiple: true, value: '<column>=set_null|fail', help: 'what a reference with no parent mapping becomes' },
  ack: { type: 'string', multiple: true, value: '<n>', help: "go ahead without the description's words #n (an unread span or a derivation)" },
  by: { type: 'string', value: '<name>', help: 'who approves (default the user name)' },
  llm: { type: 'string', value: 'claude|off', help: 'whether a model may write the functions of transform columns' },
  ...URL_FLAGS,
} as const;

function splitPair(raw: string, flag: string): [string, string] {
  if (flag === 'map' && raw.startsWith('=') && raw.indexOf('=', 1) < 0) {
    throw new InputError('FLAG_INVALID', `--map "${raw}" names no source value: a NULL source value is not written as an empty one`, {
      hint: `--map-null ${raw.slice(1) || '<enum value>'} (or --map-null <enum column>=<enum value>), or --exclude-null <column> to leave those rows out`,
    });
  }
  const i = raw.lastIndexOf('=');
  if (i <= 0) throw new InputError('FLAG_INVALID', `--${flag} takes <left>=<right>, got "${raw}"`, { hint: `e.g. --${flag} "MT-Quality Check=manufacturing"` });
  return [raw.slice(0, i), raw.slice(i + 1)];
}

/** `<target>=<origin>` split at the first "=": an expression may hold "=" (CASE WHEN a = b …), a column name does not. */
function splitColumn(raw: string): [string, string] {
  const i = raw.indexOf('=');
  if (i <= 0) throw new InputError('FLAG_INVALID', `--column takes <target>=<origin>, got "${raw}"`, { hint: `e.g. --column full_name="first_name || ' ' || last_name"` });
  return [raw.slice(0, i).trim(), raw.slice(i + 1)];
}

/** `<enum value>` or `<enum column>=<enum value>`. */
function mapNullOverride(raw: string): { target: string; column?: string } {
  const i = raw.lastIndexOf('=');
  if (i < 0) return { target: raw };
  if (i === 0) throw new InputError('FLAG_INVALID', `--map-null takes [<enum column>=]<enum value>, got "${raw}"`, { hint: '--map-null contractor, or --map-null kind=contractor' });
  return { column: raw.slice(0, i), target: raw.slice(i + 1) };
}

/** What the approve flags ask for, as the overrides applyOverrides takes (exported for the test that runs every suggested command). */
export function overridesFrom(v: FlagValues<typeof FLAGS>): PlanOverrides {
  const pairs = (list: string[] | undefined, flag: string) => (list ?? []).map((m) => splitPair(m, flag));
  return {
    map: pairs(v.map, 'map').map(([source, target]) => ({ source, target })),
    mapNull: (v['map-null'] ?? []).map(mapNullOverride),
    exclude: (v.exclude ?? []).map((source) => ({ source })),
    excludeNull: v['exclude-null'] ?? [],
    where: v.where ?? [],
    unwhere: v.unwhere ?? [],
    include: (v.include ?? []).map((source) => ({ source })),
    includeNull: v['include-null'] ?? [],
    fk: pairs(v.fk, 'fk').map(([column, value]) => ({ column, value })),
    column: (v.column ?? []).map(splitColumn).map(([target, origin]) => ({ target, origin })),
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
  const asked = [o.map, o.mapNull, o.fk, o.column, o.orphans, o.exclude, o.excludeNull, o.where, o.unwhere, o.include, o.includeNull, o.ack].reduce((n, l) => n + (l?.length ?? 0), 0);
  if (asked === 0) return plan;
  const targetTable = targetTableOf(plan, analysis);
  const next = await withConnections(config, (conn) =>
    applyOverrides(plan, o, by, createPlanProbe(conn.source, conn.target), new Date(), (c) => targetTable.columns.find((x) => x.name === c)?.nullable, analysis),
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
  if (transforms === null) return;
  const prepare = (pins?: BundlePins) =>
    prepareProgram({ plan: approved, analysis, dir: paths.bundleDir, nodeMajor: config.sandboxNode.major, ...(transforms ? { transforms } : {}), ...(pins ? { pins } : {}) });
  // The approval pins each function's sha256 (ferry run takes exactly these, never new ones),
  // and the bundle built now, so ferry run of this program reuses it (bundle-cache.ts).
  const program = hasStore(config)
    ? await withStore(config, async (store) => {
        if (transforms) await store.pinTransforms(approved, transformHashes(transforms.bodies));
        return prepare(storeBundlePins(store));
      })
    : await prepare();
  say(`   the program that will run: ${program.programPath}`);
}

export const approveCmd = defineCommand({
  name: 'approve',
  summary: SUMMARIES.approve,
  usage: `ferry approve <plan.json|plan id> [--map "<source value>=<enum value>"]... [--fk <column>=<id>]...
                [--column <target>=<source column>|<expression>|const:<value>|default]... [--by <name>]
                [--orphans <column>=set_null|fail]... [--map-null [<enum column>=]<enum value>]...
                [--exclude "<source value>"]... [--exclude-null <column>]... [--where "<predicate>"]... [--ack <n>]...
                [--unwhere "<predicate>"|"*"]... [--include "<source value>"]... [--include-null <column>]...
ferry approve <plan set.json> [--by <name>]`,
  flags: FLAGS,
  details: `Applies the overrides (each one checked against the data: enum values must exist, parent
rows must exist), then approves. Refuses while anything still needs review.
--orphans: what a reference with no parent mapping (an orphan in the legacy data) becomes:
set_null (only where the target column is nullable) or fail (the run stops, naming it).
--map and --exclude take a source value as written, or a glob over the values: * any run of
characters, ? one, \* \? \\ those characters themselves; --map's glob expands over the
flagged values only and the revision lists what it matched.
--exclude / --exclude-null / --where narrow the rows that move (the plan's filter): the run,
the counts and validation all read the same filter. --where is a condition in the column
language (comparisons, AND / OR / NOT, IS [NOT] NULL, its functions and casts).
--unwhere / --include / --include-null take back what an earlier revision's --where /
--exclude / --exclude-null left out (applied before this revision's --map / --map-null and
its own conditions, so --unwhere "<old>" --where "<new>" replaces a predicate); the rows are
recounted, and enum values that come back are decided again by the rules (what they cannot
decide needs review).
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
