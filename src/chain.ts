import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { analyzeSchemas, focusSource } from '../agents/schema-analysis/index.js';
import { buildPlan, linkParents } from '../agents/planning/index.js';
import { attachReading, readForPlanning } from './plan-reading.js';
import { generateBundled, type BundlePins } from '../agents/code-interpreter/index.js';
import type { ReadResult } from '../agents/planning/reading/index.js';
import { namesSeveralMoves } from './core/artifacts/description-reading.js';
import type { GeneratedScript } from './core/artifacts/generated-script.js';
import type { MigrationPlan } from './core/artifacts/migration-plan.js';
import { findTable, type SchemaAnalysis, type TableInfo } from './core/artifacts/schema-analysis.js';
import { connect } from './db/connect.js';
import type { TlsOptions } from './db/tls.js';
import { createPlanProbe } from './db/plan-probe.js';
import { PlanError } from './core/errors.js';
import { assertNotTransactionPoolerUrl, assertSessionConnection } from './target/pooler.js';
import { DEFAULT_TRANSACTION_TIMEOUTS, useTransactionTimeouts, type TransactionTimeouts } from './target/timeouts.js';

/**
 * The chain, wired: description → Schema Analysis → Planning → (review) → Code Interpreter →
 * Sandbox → Validation. Running a prepared plan (recorded, dry or not, in parallel or not) is
 * src/run/execute-run.ts; plan sets are src/run/run-plan-set.ts.
 */
export type Say = (line: string) => void;

export interface Connections {
  source: pg.Client;
  target: pg.Client;
  close(): Promise<void>;
  /** Another pair to the same databases (a parallel run's workers each get one). */
  reopen(): Promise<Connections>;
}

export interface ConnectionOptions {
  /** The limits each write transaction on the target sets (default DEFAULT_TRANSACTION_TIMEOUTS). */
  timeouts?: TransactionTimeouts;
  /** PGSSLROOTCERT, for URLs whose sslmode verifies (src/db/tls.ts). */
  tls?: TlsOptions;
}

/**
 * Both databases. The target must keep a session (TARGET_TRANSACTION_POOLER otherwise),
 * checked here, before any step can write.
 */
export async function openConnections(sourceUrl: string, targetUrl: string, options: ConnectionOptions = {}): Promise<Connections> {
  // A transaction pooler named by the URL is refused before either database is opened.
  assertNotTransactionPoolerUrl(targetUrl);
  const tls = options.tls ?? {};
  // Both at once: each is a round trip or more to its server, and neither waits on the other.
  const [opened, openedTarget] = await Promise.allSettled([connect(sourceUrl, 'source', 'ferry-source', tls), connect(targetUrl, 'target', 'ferry-target', tls)]);
  if (opened.status === 'rejected' || openedTarget.status === 'rejected') {
    await Promise.allSettled([opened, openedTarget].flatMap((o) => (o.status === 'fulfilled' ? [o.value.end()] : [])));
    // The source's failure first, as when they were opened one after the other.
    throw opened.status === 'rejected' ? opened.reason : (openedTarget as PromiseRejectedResult).reason;
  }
  const source = opened.value;
  const target = openedTarget.value;
  try {
    await assertSessionConnection(target, targetUrl, tls);
  } catch (e) {
    await Promise.allSettled([source.end(), target.end()]);
    throw e;
  }
  useTransactionTimeouts(target, options.timeouts ?? DEFAULT_TRANSACTION_TIMEOUTS);
  return {
    source,
    target,
    close: async () => {
      await Promise.allSettled([source.end(), target.end()]);
    },
    reopen: () => openConnections(sourceUrl, targetUrl, options),
  };
}

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
  return { analysis, plan: await attachReading(built, read.result.reading, 0, probe) };
}

export interface PreparedProgram {
  script: GeneratedScript;
  bundle: { path: string; sha256: string; bytes: number };
  programPath: string;
}

/** Writes the program beside the plan for a person to read, type-checks it, bundles it. */
export async function prepareProgram(input: {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  dir: string;
  say?: Say;
  /** Model-written bodies for the plan's transform columns (see src/chain-claude.ts writeProgramTransforms). */
  transforms?: { bodies: Record<string, string>; generator: GeneratedScript['generator'] };
  /** The Node major of the sandbox that runs it (config.sandboxNode.major); default 18. */
  nodeMajor?: number;
  /** Where bundles built before are pinned (the run store: src/store/bundle-pins.ts); without it every call bundles. */
  pins?: BundlePins;
}): Promise<PreparedProgram> {
  const say = input.say ?? (() => {});
  say('🧩 Code Interpreter: generating the transform program…');
  const { script, bundle } = await generateBundled({
    plan: input.plan,
    analysis: input.analysis,
    ...(input.transforms ? { transforms: input.transforms.bodies, transformsGenerator: input.transforms.generator } : {}),
    ...(input.nodeMajor !== undefined ? { nodeMajor: input.nodeMajor } : {}),
    typecheckCacheDir: input.dir,
    outDir: input.dir,
    ...(input.pins ? { pins: input.pins } : {}),
    notice: (line) => say(`   ⚠️  ${line}`),
  });
  const programPath = join(input.dir, 'program.ts');
  await Promise.all([writeIfChanged(programPath, script.program), writeIfChanged(join(input.dir, 'row-types.ts'), script.rowTypes)]);
  say(`   ${script.program.split('\n').length} lines, type-checked against row types from the analysed schemas: ${script.typecheck.ok ? 'OK' : 'FAILED'}`);
  const how = bundle.source === 'reused' ? 'the bundle built before, its sha256 as pinned' : 'bundled into one file';
  say(`   ${how}: ${bundle.bytes} bytes, sha256 ${bundle.sha256.slice(0, 12)}…`);
  return { script, bundle: { path: bundle.path, sha256: bundle.sha256, bytes: bundle.bytes }, programPath };
}

/** program.ts and row-types.ts are for a person to read; a run of the same program leaves them as they are. */
async function writeIfChanged(path: string, text: string): Promise<void> {
  const now = await readFile(path, 'utf8').catch(() => null);
  if (now !== text) await writeFile(path, text);
}

export function targetTableOf(plan: MigrationPlan, analysis: SchemaAnalysis): TableInfo {
  const t = findTable(analysis.target, plan.target.table, plan.target.schema);
  if (!t) throw new PlanError('ANALYSIS_MISMATCH', `the analysis has no target table ${plan.target.schema}.${plan.target.table}`);
  return t;
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
    planned.push({ analysis, plan: await attachReading(built, reading, item, probe) });
  }
  const linked = linkParents(planned.map((p) => p.plan));
  return planned.map((p, i) => ({ analysis: p.analysis, plan: linked[i]! }));
}
