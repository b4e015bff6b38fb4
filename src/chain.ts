import { analyzeSchemas, focusSource } from '../agents/schema-analysis/index.js';
import { buildPlan, linkParents } from '../agents/planning/index.js';
import { attachReading, readForPlanning } from './plan-reading.js';
import type { ReadResult } from '../agents/planning/reading/index.js';
import { namesSeveralMoves } from './core/artifacts/description-reading.js';
import type { MigrationPlan } from './core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from './core/artifacts/schema-analysis.js';
import { createPlanProbe } from './db/plan-probe.js';
import { PlanError } from './core/errors.js';

/**
 * The chain, wired: description → Schema Analysis → Planning → (review) → Code Interpreter →
 * Sandbox → Validation. Running a prepared plan (recorded, dry or not, in parallel or not) is
 * src/run/execute-run.ts; plan sets are src/run/run-plan-set.ts.
 */
export type { Say } from './run/program.js';
// What running a plan needs, in modules of their own (a run loads neither planning nor the model code).
export { openConnections, type ConnectionOptions, type Connections } from './connections.js';
export { prepareProgram, targetTableOf, type PreparedProgram } from './run/program.js';
import type { Say } from './run/program.js';
import type { Connections } from './connections.js';

export async function describeToPlan(input: { description: string; conn: Connections; say?: Say }): Promise<{ analysis: SchemaAnalysis; plan: MigrationPlan }> {
  const read = await analyzeAndRead(input);
  const { intents } = read.result;
  if (intents.length > 1) {
    throw new PlanError('DESCRIPTION_NAMES_SEVERAL_TABLES', `the description names ${intents.length} tables (${intents.map((i) => i.source.name).join(', ')}): that is a plan set`, {
      hint: 'plan it with ferry plan (which writes one plan per table), or name one table',
    });
  }
  return planFromReading(input, read);
}

/** A description planned by the rules: one plan, or a plan set when its reading names several table pairs. */
export type DescribedPlans = { kind: 'plan'; analysis: SchemaAnalysis; plan: MigrationPlan } | { kind: 'set'; planned: PlannedTable[] };

/**
 * `ferry plan` without a model: the catalogs analysed and the description read once; the
 * reading decides whether it names one move or several ("employees, then customers", "erst X,
 * dann Y", "primero X y luego Y"), never a second look at the wording.
 */
export async function describeToPlanOrSet(input: { description: string; conn: Connections; say?: Say }): Promise<DescribedPlans> {
  const read = await analyzeAndRead(input);
  if (namesSeveralMoves(read.result.reading)) return { kind: 'set', planned: await plansFromReading(input, read) };
  return { kind: 'plan', ...(await planFromReading(input, read)) };
}

interface Read {
  full: SchemaAnalysis;
  result: ReadResult;
}

async function analyzeAndRead(input: { description: string; conn: Connections; say?: Say }): Promise<Read> {
  const say = input.say ?? (() => {});
  const { source, target } = input.conn;
  say('🔍 Schema Analysis: reading both catalogs…');
  const full = await analyzeSchemas({ source, target });
  say(`   source ${full.source.database}: ${full.source.tables.length} tables · target ${full.target.database}: ${full.target.tables.length} tables, ${full.target.enums.length} enum type(s)`);
  return { full, result: await readForPlanning(input.description, full, source) };
}

async function planFromReading(input: { description: string; conn: Connections; say?: Say }, read: Read): Promise<{ analysis: SchemaAnalysis; plan: MigrationPlan }> {
  const say = input.say ?? (() => {});
  const { source, target } = input.conn;
  const intent = read.result.intents[0]!;
  const analysis = await focusSource(read.full, source, { schema: intent.source.schema, table: intent.source.name, filters: intent.filters });
  const src = intent.source;
  say(`   ${src.name}: ${src.rowCount} rows, ${analysis.focus?.rowCount ?? 0} under the filter; classified ${src.classification.kind} (${src.classification.reasons.slice(0, 2).join('; ')})`);
  say(`   ${intent.target.name}: ${intent.target.rowCount} rows, ${intent.target.columns.length} columns, FKs → ${intent.target.foreignKeys.map((f) => f.refTable).join(', ') || 'none'}`);
  say('🧭 Planning: mapping columns, enum values and references…');
  const probe = createPlanProbe(source, target);
  const built = await buildPlan({ description: input.description, intent, analysis, probe, onProgress: (l) => say(`   ${l}`) });
  return { analysis, plan: await attachReading(built, read.result.reading, 0, probe, analysis) };
}

/** One plan of a plan set, with the analysis (focused on its source table) it was made from. */
export interface PlannedTable {
  analysis: SchemaAnalysis;
  plan: MigrationPlan;
}

/**
 * A description naming several tables ("move employees, then customers, then invoices"):
 * one plan per table, parents first (topological over the FK graph; a cycle is refused),
 * each reference to an earlier table of the set naming that table's plan. Null when the
 * description names one table; describeToPlan handles that.
 */
export async function describeToPlans(input: { description: string; conn: Connections; say?: Say }): Promise<PlannedTable[] | null> {
  const read = await analyzeAndRead(input);
  return namesSeveralMoves(read.result.reading) ? plansFromReading(input, read) : null;
}

async function plansFromReading(input: { description: string; conn: Connections; say?: Say }, read: Read): Promise<PlannedTable[]> {
  const say = input.say ?? (() => {});
  const { source, target } = input.conn;
  const { reading, intents: ordered } = read.result;
  say(`🧭 Planning ${ordered.length} tables, parents first: ${ordered.map((i) => `${i.source.name} → ${i.target.name}`).join(', then ')}`);
  const planned: PlannedTable[] = [];
  for (const intent of ordered) {
    const analysis = await focusSource(read.full, source, { schema: intent.source.schema, table: intent.source.name, filters: intent.filters });
    // The set says which legacy table becomes which target table: references resolve through it, not names.
    const planSet = ordered.filter((o) => o !== intent).map((o) => ({ source: o.source, target: o.target }));
    const probe = createPlanProbe(source, target);
    const built = await buildPlan({ description: input.description, intent, analysis, planSet, probe, onProgress: (l) => say(`   ${intent.source.name}: ${l}`) });
    const item = reading.tables.findIndex((t) => t.source === `${intent.source.schema}.${intent.source.name}`);
    planned.push({ analysis, plan: await attachReading(built, reading, item, probe, analysis) });
  }
  const linked = linkParents(planned.map((p) => p.plan));
  return planned.map((p, i) => ({ analysis: p.analysis, plan: linked[i]! }));
}
