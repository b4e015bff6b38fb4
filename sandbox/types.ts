import type { ExitReason, SandboxRun } from '../src/core/artifacts/sandbox-run.js';
import { SandboxError, type FerryErrorOptions } from '../src/core/errors.js';
import type { SandboxPolicy } from './policy.js';

/**
 * The narrow interface the orchestrator sees. Docker (dockerode) and the weaker local
 * child-process sandbox live behind it.
 *
 * The sandbox computes; the orchestrator commits: a session receives one batch of source
 * rows at a time and hands back the transformed rows. It has no database access and no
 * credentials, and what it returns is checked before anything is written.
 */

/** One source row on the wire: its legacy key and its JSON-encoded columns. */
export interface InputRow {
  k: string;
  r: Record<string, unknown>;
}

/** One transformed row on the wire: the legacy key of the input row it answers to. */
export interface OutputRow {
  k: string;
  r: Record<string, unknown>;
}

export type BatchOutcome =
  | { status: 'ok'; rows: OutputRow[] }
  | {
      status: 'error';
      /** error: the program threw; protocol_error: forged/missing/duplicated rows or bad frames; others: the container died. */
      reason: Exclude<ExitReason, 'ok'>;
      message: string;
      /** The legacy key the failure is about, when there is one. */
      key?: string;
    };

export interface SandboxStartOptions {
  /** Names the run in labels, logs and the run record. */
  runId: string;
  /** The single-file CommonJS bundle: generated program + in-container harness. */
  bundle: { path: string; sha256: string };
  policy: SandboxPolicy;
  /** Each log line of the program (stdout/stderr), as it comes. */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Extra labels on the container (e.g. the migration id). */
  labels?: Record<string, string>;
}

export interface SandboxSession extends AsyncDisposable {
  readonly driver: 'docker' | 'local';
  /**
   * Sends one batch and waits for its answer. Every output row must answer to exactly one
   * input row of this batch (by key); anything else is a protocol_error naming the key.
   * Up to MAX_IN_FLIGHT (session.ts) calls may be pending at once: the batches are answered
   * in the order they were sent. After an error outcome the session is finished: pending
   * and further calls return the same error.
   */
  transform(batch: number, rows: InputRow[]): Promise<BatchOutcome>;
  /**
   * No batch follows: the program is told to end now, and answers the batches still in flight
   * first (replies come in order; each still checked), then says "done" and exits, while the
   * caller checks and writes those answers. close() then finds it ending or gone. transform()
   * after end() is refused (SANDBOX_SESSION_ENDED). Optional: without it, close() ends the stream.
   */
  end?(): void;
  /**
   * Ends the stream (unless end() did), waits for the program to exit, removes the container; returns the record.
   * When what the run left (container, run directory) cannot be removed, rejects with a
   * SandboxCleanupError (SANDBOX_CLEANUP_FAILED) that still carries the record.
   */
  close(): Promise<SandboxRun>;
}

/** `code` is the SandboxError code behind a refusal (e.g. SANDBOX_IMAGE_MISSING), when there is one. */
export type Availability = { ok: true; detail: string } | { ok: false; reason: string; code?: string };

export interface SandboxDriver {
  readonly kind: 'docker' | 'local';
  available(): Promise<Availability>;
  start(options: SandboxStartOptions): Promise<SandboxSession>;
}

/**
 * SANDBOX_CLEANUP_FAILED: the program ran and ended, but its container or run directory could
 * not be removed. The record of the run it describes travels with it, so a caller can keep
 * the run's outcome and report the leftover instead of losing either.
 */
export class SandboxCleanupError extends SandboxError {
  constructor(
    message: string,
    options: FerryErrorOptions,
    readonly record: SandboxRun | null = null,
  ) {
    super('SANDBOX_CLEANUP_FAILED', message, options);
  }

  withRecord(record: SandboxRun): SandboxCleanupError {
    return new SandboxCleanupError(this.message, { cause: this.cause, ...(this.hint === undefined ? {} : { hint: this.hint }) }, record);
  }
}
