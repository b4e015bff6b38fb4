import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { bundleScriptWithParents } from '../../agents/code-interpreter/index.js';
import { parentValuesFor } from './parent-values.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { analysisHash, type SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import type { ValidationReport } from '../core/artifacts/validation-report.js';
import type { Connections } from '../connections.js';
import { prepareProgram, targetTableOf, type PreparedProgram, type Say } from './program.js';
import { FerryError, PlanError } from '../core/errors.js';
import { createLogger, type Logger } from '../logger.js';
import { runMigration, type RunEvent, type RunInput, type RunResult } from '../orchestrator/run-migration.js';
import type { RunRow, RunStore } from '../store/run-store.js';
import { refreshStatistics } from '../validation/statistics.js';
import { validateMigration } from '../validation/validate.js';
import { step } from '../core/steps.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import type { DataApiSettings } from '../target/data-api.js';

/**
 * The one way a plan runs: the CLI (single plans and, through run-plan-set.ts, plan sets),
 * the HTTP service, the demo and the e2e tests all call executeRun. Each run is recorded in
 * the run store — the program and bundle it ran, every event as it happens, the sandbox
 * record, the checksums, the validation report — so any run can be shown and replayed.
 */
export interface RunRequest {
  store: RunStore;
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  conn: Connections;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  /** Where the program and bundle are written for a person to read. */
  workDir: string;
  /** Already generated and bundled (the CLI does it before choosing to run); else done here. */
  program?: PreparedProgram;
  startedBy: string;
  /** Every batch written and rolled back: nothing stays in the target, no validation. */
  dryRun?: boolean;
  /** Key-range partitions in their own sandboxes (extra connections come from conn.reopen). */
  parallel?: number;
  /** Set by the service: a second start for the same plan version returns the first run. */
  onceKey?: string;
  onEvent?: (e: RunEvent, runId: number, seq: number) => void;
  /** Called once the run record exists, before any work: the service answers the request here. */
  onCreated?: (run: RunRow) => void;
  say?: Say;
  /** The user id the app-visibility section reads as for `authenticated` (--as-user). */
  asUser?: string | null;
  /** SUPABASE_URL and keys (config.dataApi): the app-visibility section also reads through the Data API. */
  dataApi?: DataApiSettings | undefined;
  /** Where failures to record events are logged (default: pino, warn level, stderr). */
  logger?: Logger;
}

export type RunOutcome =
  | {
      /** This call ran the plan. */
      created: true;
      run: RunRow;
      result: RunResult;
      report: ValidationReport | null;
      /** Things that went wrong around the run without failing it (e.g. events not recorded). */
      warnings: string[];
    }
  /** onceKey matched a run already recorded: nothing ran this time. */
  | { created: false; run: RunRow };

export async function executeRun(input: RunRequest): Promise<RunOutcome> {
  const { store, plan } = input;
  if (plan.status !== 'approved') {
    throw new PlanError('PLAN_NOT_APPROVED', `plan ${plan.id} revision ${plan.revision} is ${plan.status}, not approved`, { hint: 'approve it first' });
  }
  // Every run path comes through here: only content the store holds an approval for runs
  // (PLAN_NOT_APPROVED when a file merely claims it, PLAN_TAMPERED when it was edited).
  await store.approvedHash(plan);
  step('approvedHash');
  const { run, created } = await store.createRun({
    plan,
    mode: input.dryRun ? 'dry_run' : 'run',
    startedBy: input.startedBy,
    ...(input.onceKey === undefined ? {} : { onceKey: input.onceKey }),
  });
  if (!created) return { run, created };
  step('createRun');
  input.onCreated?.(run);
  try {
    // Replay reads the analysis back by the hash the plan names.
    await store.putArtifact('schema_analysis', input.analysis, analysisHash(input.analysis));
    const prepared = input.program ?? (await prepareProgram({ plan, analysis: input.analysis, dir: input.workDir, ...(input.say ? { say: input.say } : {}) }));
    step('analysisArtifact');
    const program = await withParentValues(prepared, plan, input);
    step('parentValues');
    await store.attachProgram(run.id, { script: program.script, bundleBytes: await readFile(program.bundle.path) });
    step('attachProgram');
    // The validation starts once the rows are final, while the sandbox's program exits and its
    // container goes (runMigration's whileSandboxExits); its report counts only if the run completes.
    let validating: Promise<ValidationReport> | null = null;
    const validate = (migrationId: number, inserted: number): Promise<ValidationReport> => {
      validating ??= validateRun(input, migrationId, inserted);
      validating.catch(() => undefined);
      return validating;
    };
    const { result, warnings } = await runWithEvents(input, run.id, program.bundle, {
      dryRun: input.dryRun === true,
      ...(input.dryRun ? {} : { whileSandboxExits: (rows: { migrationId: number; inserted: number }) => validate(rows.migrationId, rows.inserted) }),
    });
    let reportHash: string | null = null;
    let report: ValidationReport | null = null;
    if (result.status === 'completed' && !result.dryRun) {
      report = await validate(result.migrationId, result.inserted);
      reportHash = await store.putArtifact('validation_report', report);
      step('reportArtifact');
    }
    const finished = await finishRecord(store, run.id, result, reportHash, warnings.length ? { warnings } : {});
    step('finishRecord');
    return { run: finished, created, result, report, warnings };
  } catch (e) {
    await store.finishRun(run.id, { status: 'failed', errorCode: e instanceof FerryError ? e.code : 'RUN_FAILED', error: (e as Error).message });
    throw e;
  }
}

/** The report on a run's rows, their statistics refreshed first (a large run's table was never analyzed). */
async function validateRun(input: RunRequest, migrationId: number, inserted: number): Promise<ValidationReport> {
  input.say?.('🔬 Validation: counts, mappings both ways, every row re-derived, enum distribution, FK integrity…');
  await refreshStatistics(input.conn.target, input.plan, inserted);
  step('statistics');
  const report = await validateMigration({
    migrationId,
    source: input.conn.source,
    target: input.conn.target,
    targetTable: targetTableOf(input.plan, input.analysis),
    asUser: input.asUser ?? null,
    dataApi: input.dataApi,
  });
  step('validation');
  return report;
}

/** The program with this run's parent values in its bundle, when its expressions read parents (else as prepared). */
async function withParentValues(program: PreparedProgram, plan: MigrationPlan, input: Pick<RunRequest, 'conn' | 'say'>): Promise<PreparedProgram> {
  const values = await parentValuesFor(plan, input.conn.source);
  if (!values) return program;
  const bundle = await bundleScriptWithParents(program.script, dirname(program.bundle.path), values);
  input.say?.(`   parent values for ${Object.keys(values).join(', ')} (${Object.values(values).reduce((n, v) => n + v.length, 0)} keys) bundled for this run: sha256 ${bundle.sha256.slice(0, 12)}…`);
  return { ...program, bundle };
}

/**
 * Runs the orchestrator and keeps every event, numbered, in the store as it comes. An event
 * the store refuses does not stop the run (the rows are what matters), but it is logged and
 * returned as a warning: the recorded timeline is then incomplete, and the person is told.
 */
export async function runWithEvents(
  input: Pick<RunRequest, 'store' | 'plan' | 'analysis' | 'conn' | 'driver' | 'policy' | 'onEvent' | 'parallel' | 'logger'>,
  runId: number,
  bundle: { path: string; sha256: string },
  mode: { dryRun: boolean; onlyKeys?: ReadonlySet<string>; whileSandboxExits?: RunInput['whileSandboxExits'] },
): Promise<{ result: RunResult; warnings: string[] }> {
  // Made on the first warning (as runMigration does): pino's load is not paid by a run with none.
  let logger = input.logger;
  let seq = 0;
  const lost: Array<{ seq: number; type: string; message: string }> = [];
  // Events are written in order on the store's own connection; the run waits for the last.
  let pending: Promise<void> = Promise.resolve();
  const result = await runMigration({
    plan: input.plan,
    analysis: input.analysis,
    bundle,
    source: input.conn.source,
    target: input.conn.target,
    driver: input.driver,
    policy: input.policy,
    dryRun: mode.dryRun,
    ...(logger ? { logger } : {}),
    ...(mode.onlyKeys ? { onlyKeys: mode.onlyKeys } : {}),
    ...(mode.whileSandboxExits ? { whileSandboxExits: mode.whileSandboxExits } : {}),
    ...(input.parallel && input.parallel > 1 ? { parallel: input.parallel, connect: input.conn.reopen } : {}),
    onEvent: (e) => {
      seq += 1;
      const n = seq;
      pending = pending
        .then(() => input.store.appendEvent(runId, n, e as unknown as Record<string, unknown>))
        .catch((err: unknown) => {
          lost.push({ seq: n, type: e.type, message: (err as Error).message });
          (logger ??= createLogger()).warn({ err, runId, seq: n, eventType: e.type }, 'run event not recorded in the run store');
        });
      input.onEvent?.(e, runId, n);
    },
  });
  step('orchestrator');
  await pending;
  step('events');
  // The run's own warnings (a sandbox not removed, the lock not released) first, then the store's.
  const warnings = [...result.warnings];
  if (lost.length) {
    warnings.push(
      `${lost.length} of ${seq} events of run ${runId} could not be recorded in the run store (first: event ${lost[0]!.seq}, ${lost[0]!.type}: ${lost[0]!.message}); its timeline in ferry runs show ${runId} is incomplete`,
    );
  }
  return { result, warnings };
}

/** Ends a run record with what the orchestrator returned (checksums, sandbox, counts). */
export async function finishRecord(store: RunStore, runId: number, result: RunResult, reportHash: string | null, extra: Record<string, unknown> = {}): Promise<RunRow> {
  const sandboxHash = result.sandbox ? await store.putArtifact('sandbox_run', result.sandbox) : null;
  const { keys, digests, sandbox: _sandbox, sandboxes: _sandboxes, ...outcome } = result;
  return store.finishRun(runId, {
    status: result.status,
    migrationId: result.dryRun ? null : result.migrationId,
    imageId: result.sandbox?.imageId ?? null,
    sandboxHash,
    reportHash,
    // A run too large for per-row digests records counts only (see REPLAY_ROW_LIMIT).
    rowsChecksum: result.digested ? result.rowsChecksum : null,
    sourceChecksum: result.digested ? result.sourceChecksum : null,
    rowKeys: result.digested ? keys : null,
    rowDigests: result.digested ? digests : null,
    outcome: { ...outcome, rows: result.digested ? keys.length : result.inserted + result.skipped, ...extra },
    errorCode: result.status === 'failed' ? result.errorCode : null,
    error: result.status === 'failed' ? result.error : null,
  });
}
