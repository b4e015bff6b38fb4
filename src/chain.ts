import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { analyzeSchemas, focusSource } from '../agents/schema-analysis/index.js';
import { buildPlan, parseIntent } from '../agents/planning/index.js';
import { bundleScript, generateScript } from '../agents/code-interpreter/index.js';
import type { GeneratedScript } from './artifacts/generated-script.js';
import type { MigrationPlan } from './artifacts/migration-plan.js';
import type { SchemaAnalysis, TableInfo } from './artifacts/schema-analysis.js';
import type { ValidationReport } from './artifacts/validation-report.js';
import { connect } from './db/connect.js';
import { createPlanProbe } from './db/plan-probe.js';
import { PlanError } from './errors.js';
import { runMigration, type RunEvent, type RunResult } from './orchestrator/run-migration.js';
import { validateMigration } from './validation/validate.js';
import type { SandboxPolicy } from '../sandbox/policy.js';
import type { SandboxDriver } from '../sandbox/types.js';

/**
 * The chain, wired: description → Schema Analysis → Planning → (review) → Code Interpreter →
 * Sandbox → Validation. The CLI, the demo and the tests all go through here.
 */
export type Say = (line: string) => void;

export interface Connections {
  source: pg.Client;
  target: pg.Client;
  close(): Promise<void>;
}

export async function openConnections(sourceUrl: string, targetUrl: string): Promise<Connections> {
  const source = await connect(sourceUrl, 'source', 'ferry-source');
  let target: pg.Client;
  try {
    target = await connect(targetUrl, 'target', 'ferry-target');
  } catch (e) {
    await source.end().catch(() => undefined);
    throw e;
  }
  return {
    source,
    target,
    close: async () => {
      await Promise.allSettled([source.end(), target.end()]);
    },
  };
}

export async function describeToPlan(input: { description: string; conn: Connections; say?: Say }): Promise<{ analysis: SchemaAnalysis; plan: MigrationPlan }> {
  const say = input.say ?? (() => {});
  const { source, target } = input.conn;
  say('🔍 Schema Analysis: reading both catalogs…');
  const full = await analyzeSchemas({ source, target });
  say(`   source ${full.source.database}: ${full.source.tables.length} tables · target ${full.target.database}: ${full.target.tables.length} tables, ${full.target.enums.length} enum type(s)`);
  const intent = parseIntent(input.description, full);
  const analysis = await focusSource(full, source, { schema: intent.source.schema, table: intent.source.name, filters: intent.filters });
  const src = intent.source;
  say(`   ${src.name}: ${src.rowCount} rows, ${analysis.focus?.rowCount ?? 0} under the filter; classified ${src.classification.kind} (${src.classification.reasons.slice(0, 2).join('; ')})`);
  say(`   ${intent.target.name}: ${intent.target.rowCount} rows, ${intent.target.columns.length} columns, FKs → ${intent.target.foreignKeys.map((f) => f.refTable).join(', ') || 'none'}`);
  say('🧭 Planning: mapping columns, enum values and references…');
  const plan = await buildPlan({ description: input.description, intent, analysis, probe: createPlanProbe(source, target), onProgress: (l) => say(`   ${l}`) });
  return { analysis, plan };
}

export interface PreparedProgram {
  script: GeneratedScript;
  bundle: { path: string; sha256: string; bytes: number };
  programPath: string;
}

/** Writes the program beside the plan for a person to read, type-checks it, bundles it. */
export async function prepareProgram(input: { plan: MigrationPlan; analysis: SchemaAnalysis; dir: string; say?: Say }): Promise<PreparedProgram> {
  const say = input.say ?? (() => {});
  say('🧩 Code Interpreter: generating the transform program…');
  const script = await generateScript({ plan: input.plan, analysis: input.analysis });
  await mkdir(input.dir, { recursive: true });
  const programPath = join(input.dir, 'program.ts');
  await writeFile(programPath, script.program);
  await writeFile(join(input.dir, 'row-types.ts'), script.rowTypes);
  say(`   ${script.program.split('\n').length} lines, type-checked against row types from the analysed schemas: ${script.typecheck.ok ? 'OK' : 'FAILED'}`);
  const bundle = await bundleScript(script, input.dir);
  say(`   bundled into one file: ${bundle.bytes} bytes, sha256 ${bundle.sha256.slice(0, 12)}…`);
  return { script, bundle, programPath };
}

export function targetTableOf(plan: MigrationPlan, analysis: SchemaAnalysis): TableInfo {
  const t = analysis.target.tables.find((x) => x.schema === plan.target.schema && x.name === plan.target.table);
  if (!t) throw new PlanError('ANALYSIS_MISMATCH', `the analysis has no target table ${plan.target.schema}.${plan.target.table}`);
  return t;
}

export interface ExecuteResult {
  run: RunResult;
  report: ValidationReport | null;
}

/** Runs a prepared, approved plan in the sandbox and validates what it wrote. */
export async function executePlan(input: {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  program: PreparedProgram;
  conn: Connections;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  onEvent?: (e: RunEvent) => void;
  say?: Say;
}): Promise<ExecuteResult> {
  const say = input.say ?? (() => {});
  const run = await runMigration({
    plan: input.plan,
    analysis: input.analysis,
    bundle: input.program.bundle,
    source: input.conn.source,
    target: input.conn.target,
    driver: input.driver,
    policy: input.policy,
    ...(input.onEvent ? { onEvent: input.onEvent } : {}),
  });
  if (run.status !== 'completed') return { run, report: null };
  say('🔬 Validation: counts, mappings both ways, every row re-derived, enum distribution, FK integrity…');
  const report = await validateMigration({
    migrationId: run.migrationId,
    source: input.conn.source,
    target: input.conn.target,
    targetTable: targetTableOf(input.plan, input.analysis),
  });
  return { run, report };
}
