import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { sha256 } from '../artifacts/hash.js';
import { MigrationPlan } from '../artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../artifacts/schema-analysis.js';
import type { ValidationReport } from '../artifacts/validation-report.js';
import { prepareProgram, targetTableOf, type Connections, type PreparedProgram, type Say } from '../chain.js';
import { FerryError, PlanError } from '../errors.js';
import { REPLAY_ROW_LIMIT, runMigration, type RunEvent, type RunResult } from '../orchestrator/run-migration.js';
import type { RunRow, RunStore } from '../store/run-store.js';
import { validateMigration } from '../validation/validate.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';

/**
 * A run with its record: the program and bundle it ran, every event (logs included) as it
 * happens, the sandbox record, the checksums, the validation report — all in the run store.
 * The CLI and the service both run through here.
 */
export interface RecordedRunInput {
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
  dryRun?: boolean;
  /** Key-range partitions in their own sandboxes (extra connections come from conn.reopen). */
  parallel?: number;
  /** Set by the service: a second start for the same plan version returns the first run. */
  onceKey?: string;
  onEvent?: (e: RunEvent, runId: number, seq: number) => void;
  /** Called once the run record exists, before any work: the service answers the request here. */
  onCreated?: (run: RunRow) => void;
  say?: Say;
}

export interface RecordedRun {
  run: RunRow;
  /** False when onceKey matched a run already recorded: nothing ran this time. */
  created: boolean;
  /** What the orchestrator returned and the validation report, when this call ran it. */
  result?: RunResult;
  report?: ValidationReport | null;
}

export async function runRecorded(input: RecordedRunInput): Promise<RecordedRun> {
  const { store, plan } = input;
  if (plan.status !== 'approved') {
    throw new PlanError('PLAN_NOT_APPROVED', `plan ${plan.id} revision ${plan.revision} is ${plan.status}, not approved`, { hint: 'approve it first' });
  }
  await store.approvedHash(plan);
  const { run, created } = await store.createRun({
    plan,
    mode: input.dryRun ? 'dry_run' : 'run',
    startedBy: input.startedBy,
    ...(input.onceKey === undefined ? {} : { onceKey: input.onceKey }),
  });
  if (!created) return { run, created };
  input.onCreated?.(run);
  try {
    const program = input.program ?? await prepareProgram({ plan, analysis: input.analysis, dir: input.workDir, ...(input.say ? { say: input.say } : {}) });
    await store.attachProgram(run.id, { script: program.script, bundleBytes: await readFile(program.bundle.path) });
    const result = await runWithEvents(input, run.id, program.bundle, input.dryRun === true);
    let reportHash: string | null = null;
    let report: ValidationReport | null = null;
    if (result.status === 'completed' && !result.dryRun) {
      input.say?.('🔬 Validation: counts, mappings both ways, every row re-derived, enum distribution, FK integrity…');
      report = await validateMigration({
        migrationId: result.migrationId,
        source: input.conn.source,
        target: input.conn.target,
        targetTable: targetTableOf(plan, input.analysis),
      });
      reportHash = await store.putArtifact('validation_report', report);
    }
    return { run: await finish(store, run.id, result, reportHash), created, result, report };
  } catch (e) {
    await store.finishRun(run.id, { status: 'failed', errorCode: e instanceof FerryError ? e.code : 'RUN_FAILED', error: (e as Error).message });
    throw e;
  }
}

/** Runs the orchestrator and keeps every event, numbered, in the store as it comes. */
async function runWithEvents(
  input: Pick<RecordedRunInput, 'store' | 'plan' | 'analysis' | 'conn' | 'driver' | 'policy' | 'onEvent' | 'parallel'>,
  runId: number,
  bundle: { path: string; sha256: string },
  dryRun: boolean,
  onlyKeys?: ReadonlySet<string>,
): Promise<RunResult> {
  let seq = 0;
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
    dryRun,
    ...(onlyKeys ? { onlyKeys } : {}),
    ...(input.parallel && input.parallel > 1 ? { parallel: input.parallel, connect: input.conn.reopen } : {}),
    onEvent: (e) => {
      seq += 1;
      const n = seq;
      pending = pending.then(() => input.store.appendEvent(runId, n, e as unknown as Record<string, unknown>)).catch(() => undefined);
      input.onEvent?.(e, runId, n);
    },
  });
  await pending;
  return result;
}

async function finish(store: RunStore, runId: number, result: RunResult, reportHash: string | null, extra: Record<string, unknown> = {}): Promise<RunRow> {
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

/** One reason a replay may differ from its recording, and whether it applies. */
export interface ReplayFactor {
  factor: 'source_rows' | 'image' | 'program' | 'rows_written';
  same: boolean;
  recorded: string | null;
  now: string | null;
  detail: string;
}

export interface ReplayOutcome {
  verdict: 'reproduced' | 'differs' | 'failed';
  summary: string;
  factors: ReplayFactor[];
  replay: RunRow;
}

/**
 * Replays a recorded run: its recorded bundle and plan, in a fresh sandbox, as a dry run
 * over the same legacy keys (the target transaction is rolled back). Compares the checksum
 * of the rows it would write with the recording, and says which of source rows, image and
 * program changed.
 */
export async function replayRun(input: {
  store: RunStore;
  runId: number;
  conn: Connections;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  workDir: string;
  startedBy: string;
  onEvent?: (e: RunEvent, runId: number, seq: number) => void;
  onCreated?: (run: RunRow) => void;
}): Promise<ReplayOutcome> {
  const { store } = input;
  const original = await store.getRun(input.runId);
  if (original.status === 'completed' && original.bundleSha256 && !original.rowKeys) {
    throw new PlanError('RUN_NOT_REPLAYABLE', `run ${original.id} moved more than ${REPLAY_ROW_LIMIT.toLocaleString('en-US')} rows; ferry records per-row digests only up to that size, so it cannot be replayed row by row`, {
      hint: 'check the program against the source as it is now with ferry run --dry-run, and the written rows with ferry validate',
    });
  }
  if (original.status !== 'completed' || !original.bundleSha256 || !original.rowKeys || !original.rowsChecksum) {
    throw new PlanError('RUN_NOT_REPLAYABLE', `run ${original.id} is ${original.status} and has no complete recording to replay`, {
      hint: 'replay a completed run (ferry runs lists them)',
    });
  }
  const planArtifact = await store.getArtifact(original.planHash);
  const plan = MigrationPlan.parse(planArtifact?.body);
  const analysis = await store.getAnalysis(plan.analysisHash);
  const bytes = await store.getBundle(original.bundleSha256);
  if (!bytes || sha256(bytes) !== original.bundleSha256) {
    throw new FerryError('BUNDLE_CORRUPT', 'system', `the recorded bundle of run ${original.id} is missing or no longer matches its sha256`);
  }
  await mkdir(input.workDir, { recursive: true });
  const bundlePath = join(input.workDir, 'bundle.cjs');
  await writeFile(bundlePath, bytes);

  const { run } = await store.createRun({ plan, mode: 'replay', startedBy: input.startedBy, replayOf: original.id });
  input.onCreated?.(run);
  try {
    await store.attachProgram(run.id, { script: (await store.getArtifact(original.programHash ?? ''))?.body ?? null, bundleBytes: bytes });
    const result = await runWithEvents(
      { ...input, plan, analysis },
      run.id,
      { path: bundlePath, sha256: original.bundleSha256 },
      true,
      new Set(original.rowKeys),
    );
    const changed = changedKeys(original.rowKeys, original.rowDigests, result.keys, result.digests);
    // What the Code Interpreter writes for this plan today: the replay ran the recorded bundle,
    // so a different program now is a reason a fresh run could differ, not this replay.
    const today = await generateScript({ plan, analysis });
    const factors: ReplayFactor[] = [
      {
        factor: 'source_rows',
        same: result.sourceChecksum === original.sourceChecksum && result.keys.length === original.rowKeys.length,
        recorded: original.sourceChecksum,
        now: result.sourceChecksum,
        detail:
          result.keys.length !== original.rowKeys.length
            ? `${original.rowKeys.length - result.keys.length} of the ${original.rowKeys.length} recorded source rows are gone or no longer match the filter: ${original.rowKeys.filter((k) => !result.keys.includes(k)).slice(0, 10).join(', ')}`
            : result.sourceChecksum === original.sourceChecksum
              ? `the ${result.keys.length} source rows read the same as when recorded`
              : `the source rows changed since the recording (same keys, different values${changed.source.length ? `: legacy ${keyList(changed.source)}` : ''})`,
      },
      {
        factor: 'image',
        same: (result.sandbox?.imageId ?? null) === original.imageId,
        recorded: original.imageId,
        now: result.sandbox?.imageId ?? null,
        detail: (result.sandbox?.imageId ?? null) === original.imageId ? 'same sandbox image' : 'the sandbox image is not the one recorded',
      },
      {
        factor: 'program',
        same: today.bundle.sha256 === original.bundleSha256,
        recorded: original.bundleSha256,
        now: today.bundle.sha256,
        detail:
          today.bundle.sha256 === original.bundleSha256
            ? 'the recorded bundle is what the Code Interpreter writes for this plan today'
            : 'the Code Interpreter now writes a different program for this plan (the replay ran the recorded one)',
      },
      {
        factor: 'rows_written',
        same: result.rowsChecksum === original.rowsChecksum,
        recorded: original.rowsChecksum,
        now: result.rowsChecksum,
        detail:
          result.rowsChecksum === original.rowsChecksum
            ? 'the rows it would write are the ones recorded'
            : `the rows it would write differ from the recording${changed.rows.length ? `: legacy ${keyList(changed.rows)}` : ''}`,
      },
    ];
    let verdict: ReplayOutcome['verdict'];
    let summary: string;
    if (result.status === 'failed') {
      verdict = 'failed';
      summary = `the replay failed: ${result.errorCode}: ${result.error}`;
    } else if (result.rowsChecksum === original.rowsChecksum) {
      verdict = 'reproduced';
      summary = `reproduced: ${result.keys.length} rows, checksum ${result.rowsChecksum.slice(0, 12)}…`;
    } else {
      verdict = 'differs';
      const why = factors.filter((f) => !f.same && f.factor !== 'rows_written' && f.factor !== 'program').map((f) => f.detail);
      const rowsNamed = changed.rows.length ? `; rows that differ: legacy ${keyList(changed.rows)}` : '';
      summary = `differs: ${why.length ? why.join('; ') : 'same source rows, image and bundle, different output: the program is not deterministic'}${rowsNamed}`;
    }
    const replay = await finish(store, run.id, result, null, { verdict, summary, factors });
    return { verdict, summary, factors, replay };
  } catch (e) {
    await store.finishRun(run.id, { status: 'failed', errorCode: e instanceof FerryError ? e.code : 'REPLAY_FAILED', error: (e as Error).message });
    throw e;
  }
}

/** Keys whose source row, or whose written row, differs between a recording and a replay (by per-row digest). */
function changedKeys(
  recordedKeys: string[],
  recordedDigests: string[] | null,
  keys: string[],
  digests: string[],
): { source: string[]; rows: string[] } {
  const source: string[] = [];
  const rows: string[] = [];
  if (!recordedDigests) return { source, rows };
  const now = new Map(keys.map((k, i) => [k, digests[i] ?? '']));
  recordedKeys.forEach((k, i) => {
    const [src, row] = (recordedDigests[i] ?? ':').split(':');
    const [srcNow, rowNow] = (now.get(k) ?? ':').split(':');
    if (!now.has(k)) return;
    if (src !== srcNow) source.push(k);
    if (row !== rowNow) rows.push(k);
  });
  return { source, rows };
}

function keyList(keys: string[]): string {
  return keys.length > 10 ? `${keys.slice(0, 10).join(', ')} and ${keys.length - 10} more` : keys.join(', ');
}
