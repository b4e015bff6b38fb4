/** The run's artifacts: its input, its events, its result, and what its workers share. */
import type pg from 'pg';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { SandboxRun } from '../core/artifacts/sandbox-run.js';
import type { SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { OutputRow, SandboxDriver } from '../../sandbox/types.js';
import type { Logger } from '../logger.js';
import type { KeyRange } from './batching.js';
import type { BatchWriter } from './write-batch.js';
import type { Progress } from './progress.js';
import type { SelfReferenceResolved } from './self-references.js';

export type RunEvent =
  | {
      type: 'started';
      migrationId: number;
      /** The target's identity (ferry_control.target_identity): the run store vouches for a rollback of this migration on this target only. */
      targetId?: string;
      sourceRows: number;
      alreadyMapped: number;
      toMigrate: number;
      /** The most rows a batch may hold (the plan's); batches of wide rows hold fewer. */
      batchSize: number;
      /** Key-range partitions, each with its own sandbox and connections. */
      parallel: number;
    }
  /** Runs of this table whose process died (killed, connection lost) were marked failed; this run goes on after their committed batches. */
  | { type: 'resumed'; abandoned: number[]; alreadyMapped: number }
  | { type: 'sandbox_started'; driver: 'docker' | 'local'; worker: number }
  | {
      type: 'batch_committed';
      batch: number;
      rows: number;
      /** Rows inserted so far by this run (all workers). */
      inserted: number;
      toMigrate: number;
      elapsedMs: number;
      worker: number;
      /** Rows through so far (inserted, or checked in a dry run), the current rate and the time left. */
      done: number;
      rowsPerSec: number;
      etaSeconds: number | null;
    }
  | { type: 'log'; line: string; stream: 'stdout' | 'stderr' }
  /** The second pass over a self-reference: rows whose reference was set, orphans left NULL. */
  | SelfReferenceResolved
  | { type: 'finished'; status: 'completed' | 'failed' };

/** Connections for one more worker; closed by the run when the worker is done. */
export interface WorkerConnections {
  source: pg.Client;
  target: pg.Client;
  close(): Promise<void>;
}

export interface RunInput {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  bundle: { path: string; sha256: string };
  source: pg.Client;
  target: pg.Client;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  onEvent?: (e: RunEvent) => void;
  /**
   * Preview: every batch goes through the sandbox and the row checks, and is written in a
   * transaction that is then rolled back. No migration_control row is kept (migrationId 0).
   */
  dryRun?: boolean;
  /**
   * Replay: send exactly these legacy keys (those a recorded run sent), mapped or not, so
   * the checksum covers the same rows. Only with dryRun; already-mapped rows are not written.
   */
  onlyKeys?: ReadonlySet<string>;
  /**
   * Key-range partitions run side by side, each in its own sandbox container with its own
   * source and target connections (opened with `connect`), all reading one exported snapshot.
   * Default 1: the run uses `source` and `target` only.
   */
  parallel?: number;
  connect?: () => Promise<WorkerConnections>;
  /** One key range of a queued run (src/queue); see RunPartition. */
  partition?: RunPartition;
  /**
   * Aborted: every worker stops after its batch in flight and the run ends failed RUN_STOPPED
   * (committed batches stay; a later run resumes after them). `ferry worker` on SIGTERM.
   */
  signal?: AbortSignal;
  /** Where what goes wrong without failing the run is logged (default: pino, warn level, stderr). */
  logger?: Logger;
  /**
   * Work on the finished rows that goes on while the sandbox's program exits and its container
   * is removed (Docker takes about a tenth of a second to report an exit): called once every
   * batch committed, self-references were resolved and the source snapshot closed, before the
   * exit is judged and the control row completed. runMigration waits for it to settle before
   * it touches `source` or `target` again (the caller's work may use both), and ignores how it
   * settled: the caller keeps its result, and uses it only if the run completes. The CLI
   * validates here.
   */
  whileSandboxExits?: (rows: { migrationId: number; inserted: number }) => Promise<unknown>;
}

/**
 * One key range of a queued run, run on its own (by a `ferry worker`, at its own time): only
 * the rows lo < key ≤ hi, read in this run's own snapshot. The table's lock is taken shared
 * (the other ranges of the queued run write beside it; a whole-table run is kept out) and
 * the range's own lock exclusively (a retry cannot write beside an attempt that still lives).
 * Earlier dead attempts of the range are the queue's to mark (it knows them): the table's
 * other `running` rows belong to ranges running now and are not touched.
 */
export interface RunPartition {
  range: KeyRange;
  /** The source key's type, for the range's casts. */
  keyType: string;
  /** Names the range in its lock and messages, e.g. `3/12`. */
  label: string;
  /** migration_control rows of earlier attempts of this range: still `running`, they died; marked failed RUN_ABANDONED once the range's lock is held. */
  abandon: readonly number[];
  // No second pass over self-references here: a range's rows may point at rows of ranges not
  // written yet. The queue runs that pass once, over the whole table, after every range (src/queue/finish-plan.ts).
}

/**
 * What a run would write, as checksums: over the checked rows the program returned, without
 * the uuids the orchestrator mints (they differ every time), and over the source rows sent,
 * both in legacy-key order. A dry run, a replay and a real run of the same rows and program
 * give the same rowsChecksum. Kept for runs of up to REPLAY_ROW_LIMIT rows; a larger run
 * records counts only (hashing every row twice would cost more than writing it).
 */
export interface RunChecksums {
  dryRun: boolean;
  rowsChecksum: string;
  sourceChecksum: string;
  /** Legacy keys sent to the sandbox, in order. */
  keys: string[];
  /**
   * Per key (same order): `<source digest>:<row digest>`, 16 hex characters each, so a replay
   * can name exactly which rows changed, not only that the checksum did.
   */
  digests: string[];
  /** False when the run was too large for per-row digests (then the checksums are empty). */
  digested: boolean;
}

/** Runs of more rows than this record no per-row digests (see RunChecksums). */
export const REPLAY_ROW_LIMIT = 100_000;

/** What every run reports, completed or not. */
export interface RunCounts {
  migrationId: number;
  sourceRows: number;
  inserted: number;
  skipped: number;
  batches: number;
  /** The sandbox record (with several workers: the one with the highest peak memory). */
  sandbox: SandboxRun | null;
  /** Every worker's sandbox record. */
  sandboxes: SandboxRun[];
  parallel: number;
  /** Earlier runs of this table found dead and marked failed (RUN_ABANDONED) before this one went on. */
  resumedFrom: number[];
  /**
   * What went wrong without changing the rows, each `CODE: what happened; what to do`: a
   * sandbox that could not be removed (SANDBOX_CLEANUP_FAILED), the table's lock not released
   * (LOCK_RELEASE_FAILED). Also logged.
   */
  warnings: string[];
}

export type RunResult = RunChecksums &
  RunCounts &
  (
    | { status: 'completed' }
    | {
        status: 'failed';
        errorCode: string;
        error: string;
        /** The legacy key the failure is about, when there is one. */
        key?: string;
      }
  );

/** One worker's digests, concatenated in key-range order at the end. */
export interface Digests {
  keys: string[];
  source: string[];
  rows: string[];
}

/** What the workers of one run share; JavaScript is single-threaded, so plain fields suffice. */
export interface Shared {
  input: RunInput;
  migrationId: number;
  /** Look up existing mappings per batch: false on a fresh run, where none can exist. */
  lookupMapped: boolean;
  digests: boolean;
  /** Bytes per source row as JSON, sampled before the first batch. */
  rowBytes: number | null;
  check: (sent: ReadonlyMap<string, Record<string, unknown>>, got: OutputRow[]) => Promise<OutputRow[]>;
  writer: BatchWriter;
  progress: Progress;
  toMigrate: number;
  batchNo: number;
  inserted: number;
  skipped: number;
  batches: number;
  /** Set by the first worker that fails: the others stop after their batch in flight. */
  stop: boolean;
  /** The first failure of any worker: the one the run reports. */
  firstError?: unknown;
  emit: (e: RunEvent) => void;
  /** Logs a problem that does not fail the run and keeps it for the result's warnings. */
  warn: (code: string, message: string, err?: unknown) => void;
}

