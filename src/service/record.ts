import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { sha256 } from '../core/artifacts/hash.js';
import { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { Connections } from '../chain.js';
import { FerryError, PlanError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import { REPLAY_ROW_LIMIT, type RunEvent } from '../orchestrator/run-migration.js';
import { finishRecord, runWithEvents } from '../run/execute-run.js';
import type { RunRow, RunStore } from '../store/run-store.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';

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
  /** Events the run store refused (the replay's timeline is incomplete), as in RunOutcome. */
  warnings: string[];
}

type ReplayResult = Awaited<ReturnType<typeof runWithEvents>>['result'];

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
  logger?: Logger;
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

  const recording = original as Recording;
  const { run } = await store.createRun({ plan, mode: 'replay', startedBy: input.startedBy, replayOf: original.id });
  input.onCreated?.(run);
  try {
    await store.attachProgram(run.id, { script: (await store.getArtifact(original.programHash ?? ''))?.body ?? null, bundleBytes: bytes });
    const { result, warnings } = await runWithEvents(
      { ...input, plan, analysis },
      run.id,
      { path: bundlePath, sha256: original.bundleSha256 },
      { dryRun: true, onlyKeys: new Set(original.rowKeys) },
    );
    // What the Code Interpreter writes for this plan today: the replay ran the recorded bundle,
    // so a different program now is a reason a fresh run could differ, not this replay.
    const today = await generateScript({ plan, analysis });
    const { factors, verdict, summary } = judgeReplay(recording, result, today.bundle.sha256);
    const replay = await finishRecord(store, run.id, result, null, { verdict, summary, factors, ...(warnings.length ? { warnings } : {}) });
    return { verdict, summary, factors, replay, warnings };
  } catch (e) {
    // Recording the failure may fail too: that is logged, and the replay's own error is the one thrown.
    await store
      .finishRun(run.id, { status: 'failed', errorCode: e instanceof FerryError ? e.code : 'REPLAY_FAILED', error: (e as Error).message })
      .catch((recordError: unknown) => input.logger?.warn({ err: recordError, runId: run.id }, 'could not record the failed replay'));
    throw e;
  }
}

/** A completed run with everything a replay compares against. */
type Recording = RunRow & { bundleSha256: string; rowKeys: string[]; rowsChecksum: string };

/** The factors, verdict and summary of a replay: what it found against what was recorded. */
function judgeReplay(original: Recording, result: ReplayResult, todaySha256: string): { factors: ReplayFactor[]; verdict: ReplayOutcome['verdict']; summary: string } {
  const changed = changedKeys(original.rowKeys, original.rowDigests, result.keys, result.digests);
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
      same: todaySha256 === original.bundleSha256,
      recorded: original.bundleSha256,
      now: todaySha256,
      detail:
        todaySha256 === original.bundleSha256
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
  return { factors, verdict, summary };
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
