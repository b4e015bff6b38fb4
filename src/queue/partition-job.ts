/**
 * One job: one key range of one plan, run by runMigration exactly as `ferry run` runs a plan
 * (its own sandbox on this worker's Docker, every row checked, each batch atomic with its
 * mappings and control update), restricted to the range and reading it in its own snapshot.
 *
 * The snapshot: ranges of a queued run start at different times on different hosts, so no one
 * exported snapshot can outlive them (it dies with the transaction that exported it). Each
 * range reads its own REPEATABLE READ snapshot instead. That is safe because the ranges are
 * cut once, at enqueue, disjoint and covering (first lo and last hi open), and a row belongs
 * to the range its key falls in: every row is read by exactly one range, and a retried range
 * skips the keys already mapped. What a single snapshot would add — all rows as of one
 * instant — is checked afterwards instead: validation re-derives every row of the table from
 * the source as it is then, so a source that changed under the run fails it, loudly.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type PgBoss from 'pg-boss';
import type { Connections } from '../chain.js';
import { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import { runMigration, type RunEvent, type RunResult } from '../orchestrator/run-migration.js';
import type { RunStore } from '../store/run-store.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import type { PartitionJob } from './boss.js';
import { failQueuedRun, finishPlanIfDone } from './finish-plan.js';
import { toPartition, type PartitionRow, type PlanRow, type QueueDb } from './queue-db.js';
import type { QueueSettings } from './settings.js';

export interface WorkerContext {
  workerId: string;
  store: RunStore;
  queue: QueueDb;
  boss: PgBoss;
  connect: () => Promise<Connections>;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  settings: QueueSettings;
  logger: Logger;
  /** Aborted on SIGTERM: the partition in hand stops after its batch in flight. */
  signal: AbortSignal;
  say: (line: string) => void;
}

/** Failures that say nothing about the data: the partition is tried again (up to the retry limit). */
const TRANSIENT = new Set(['DB_CONNECTION_LOST', 'RUN_STOPPED', 'MIGRATION_ALREADY_RUNNING', 'PARTITION_ALREADY_RUNNING', 'SANDBOX_DOCKER_UNAVAILABLE', 'DB_CONNECT_FAILED']);

/** Thrown to pg-boss so it retries the job after its delay. */
export class RetryPartition extends Error {}

/** Runs the job; returns normally when the job is done with (completed, failed for good, or cancelled), throws RetryPartition to have it retried. */
export async function runPartitionJob(ctx: WorkerContext, job: PartitionJob): Promise<void> {
  const part = await claim(ctx, job);
  if (!part) return;
  const plan = (await ctx.queue.plans(job.queueRunId))[job.planIdx]!;
  const label = `${part.idx + 1}/${part.count}`;
  if (part.attempts > ctx.settings.retryLimit + 1) {
    // Its workers kept dying under it (lost leases): a retry limit, not a loop.
    return settle(ctx, plan, part, { code: 'RETRIES_EXHAUSTED', message: `${part.attempts - 1} attempts ended without finishing (last: ${part.note ?? 'unknown'})`, key: null, transient: false });
  }
  ctx.say(`▶ ${plan.targetTable} partition ${label} (queued run ${job.queueRunId}, attempt ${part.attempts})`);
  let result: RunResult;
  try {
    result = await runRange(ctx, plan, part, label);
  } catch (e) {
    const code = e instanceof FerryError ? e.code : ((e as { code?: string }).code ?? 'RUN_FAILED');
    const transient = TRANSIENT.has(code) || !(e instanceof FerryError && e.category === 'user');
    return settle(ctx, plan, part, { code, message: (e as Error).message, key: null, transient });
  }
  if (result.status === 'completed') {
    await ctx.queue.db.query(
      // Rows count whoever wrote them; a range can complete once (a retry of it may be queued meanwhile: it finds it done).
      `UPDATE ferry_queue.partitions SET rows_inserted = rows_inserted + $4, rows_skipped = $5, updated_at = now(),
              state = CASE WHEN state IN ('running', 'queued') THEN 'completed' ELSE state END, note = CASE WHEN state IN ('running', 'queued') THEN NULL ELSE note END
        WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3`,
      [job.queueRunId, job.planIdx, job.partitionIdx, result.inserted, result.skipped],
    );
    ctx.say(`✔ ${plan.targetTable} partition ${label}: ${result.inserted} inserted, ${result.skipped} already migrated`);
    await finishPlanIfDone(ctx, job.queueRunId, job.planIdx);
    return;
  }
  await ctx.queue.db.query(`UPDATE ferry_queue.partitions SET rows_inserted = rows_inserted + $4 WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3`, [
    job.queueRunId,
    job.planIdx,
    job.partitionIdx,
    result.inserted,
  ]);
  // A failure naming a row is the data's: retrying cannot change it.
  const transient = result.key === undefined && TRANSIENT.has(result.errorCode);
  return settle(ctx, plan, part, { code: result.errorCode, message: result.error, key: result.key ?? null, transient });
}

/** Takes the partition for this worker (one more attempt), unless its run has failed or it is done. */
async function claim(ctx: WorkerContext, job: PartitionJob): Promise<PartitionRow | null> {
  const run = await ctx.queue.run(job.queueRunId);
  if (run.status !== 'running') {
    await ctx.queue.db.query(
      `UPDATE ferry_queue.partitions SET state = 'cancelled', note = $4, updated_at = now() WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3 AND state IN ('queued', 'running')`,
      [job.queueRunId, job.planIdx, job.partitionIdx, `not run: the queued run is ${run.status}${run.errorCode ? ` (${run.errorCode})` : ''}`],
    );
    return null;
  }
  const r = await ctx.queue.db.query(
    `UPDATE ferry_queue.partitions SET state = 'running', attempts = attempts + 1, worker_id = $4, updated_at = now()
      WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3 AND state IN ('queued', 'running') RETURNING *`,
    [job.queueRunId, job.planIdx, job.partitionIdx, ctx.workerId],
  );
  if (!r.rows[0]) return null;
  await recordEvent(ctx, job, Number(r.rows[0].attempts), { type: 'claimed', worker_id: ctx.workerId });
  return toPartition(r.rows[0]);
}

/** The range through runMigration on connections of its own; each event recorded in ferry_queue.events. */
async function runRange(ctx: WorkerContext, plan: PlanRow, part: PartitionRow, label: string): Promise<RunResult> {
  const planBody = MigrationPlan.parse((await ctx.store.getArtifact(plan.planHash))?.body);
  const analysis = await ctx.store.getAnalysis(plan.analysisHash);
  const bundle = await bundleFile(ctx.store, plan.bundleSha256);
  const job: PartitionJob = { queueRunId: part.queueRunId, planIdx: part.planIdx, partitionIdx: part.idx };
  const conn = await ctx.connect();
  let pending: Promise<void> = Promise.resolve();
  try {
    const result = await runMigration({
      plan: planBody,
      analysis,
      bundle,
      source: conn.source,
      target: conn.target,
      driver: ctx.driver,
      policy: ctx.policy,
      logger: ctx.logger,
      signal: ctx.signal,
      partition: { range: part.range, keyType: plan.keyType, label, abandon: part.migrationIds },
      onEvent: (e) => {
        pending = pending.then(() => onRunEvent(ctx, job, part.attempts, e, plan.storeRunId)).catch((err: unknown) => ctx.logger.warn({ err, job }, 'queue event not recorded'));
      },
    });
    await pending;
    for (const w of result.warnings) ctx.say(`⚠ ${w}`);
    return result;
  } finally {
    await conn.close();
  }
}

/** The event in ferry_queue.events; the partition's migration id and row counts kept current from it. */
async function onRunEvent(ctx: WorkerContext, job: PartitionJob, attempt: number, e: RunEvent, storeRunId: number): Promise<void> {
  if (e.type === 'log') return;
  const id = await recordEvent(ctx, job, attempt, e as unknown as Record<string, unknown>);
  const key = [job.queueRunId, job.planIdx, job.partitionIdx];
  if (e.type === 'started' && e.migrationId > 0) {
    await ctx.queue.db.query(
      // The range's rows, and those earlier attempts already moved: progress over attempts.
      `UPDATE ferry_queue.partitions SET migration_ids = array_append(migration_ids, $4::bigint), to_migrate = $5, rows_done = $6, updated_at = now()
        WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3`,
      [...key, e.migrationId, e.alreadyMapped + e.toMigrate, e.alreadyMapped],
    );
  } else if (e.type === 'batch_committed') {
    await ctx.queue.db.query(`UPDATE ferry_queue.partitions SET rows_done = rows_done + $4, updated_at = now() WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3`, [...key, e.rows]);
  }
  // A range's start in the plan's run too (seq: the queue's event id, unique however many workers write): the run store then
  // knows every migration of the run and vouches for each range's control row (rollback), and its timeline shows each range.
  if (e.type === 'started' || e.type === 'resumed') await ctx.store.appendEvent(storeRunId, id, { ...e, range: `${job.partitionIdx + 1}` });
}

/** The event in ferry_queue.events; returns its id (increasing over the whole queue). */
export async function recordEvent(ctx: Pick<WorkerContext, 'queue'>, job: PartitionJob, attempt: number, event: Record<string, unknown>): Promise<number> {
  const r = await ctx.queue.db.query<{ id: string }>('INSERT INTO ferry_queue.events (queue_run_id, plan_idx, partition_idx, attempt, event) VALUES ($1, $2, $3, $4, $5) RETURNING id', [
    job.queueRunId,
    job.planIdx,
    job.partitionIdx,
    attempt,
    JSON.stringify(event),
  ]);
  return Number(r.rows[0]!.id);
}

/** A failure: back to the queue while attempts remain and it is not the data's, else the queued run fails naming it. */
async function settle(ctx: WorkerContext, plan: PlanRow, part: PartitionRow, f: { code: string; message: string; key: string | null; transient: boolean }): Promise<void> {
  const label = `${part.idx + 1}/${part.count}`;
  const pk = [part.queueRunId, part.planIdx, part.idx];
  if (f.transient && part.attempts <= ctx.settings.retryLimit) {
    // Only while it is still this worker's: a range handed on (lost lease) or completed meanwhile stays as it is.
    await ctx.queue.db.query(
      `UPDATE ferry_queue.partitions SET state = 'queued', note = $5, updated_at = now() WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3 AND state = 'running' AND worker_id = $4`,
      [...pk, ctx.workerId, `attempt ${part.attempts} ended ${f.code}: ${f.message}; retried by the queue`],
    );
    ctx.say(`↻ ${plan.targetTable} partition ${label}: ${f.code}; back to the queue`);
    throw new RetryPartition(`${f.code}: ${f.message}`);
  }
  await ctx.queue.db.query(
    `UPDATE ferry_queue.partitions SET state = 'failed', error_code = $4, error = $5, error_key = $6, updated_at = now() WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3`,
    [...pk, f.code, f.message, f.key],
  );
  const row = f.key === null ? '' : ` at ${plan.targetTable} legacy key ${f.key}`;
  const why = f.transient ? ` (after ${part.attempts} attempts)` : '';
  ctx.say(`✖ ${plan.targetTable} partition ${label}: ${f.code}${row}: ${f.message}`);
  await failQueuedRun(ctx, part.queueRunId, part.planIdx, f.code, `partition ${label} of ${plan.targetTable} failed${row}${why}: ${f.message}`);
}

/** The run's exact bundle, from the run store to this host's disk once (checked by its sha256). */
async function bundleFile(store: RunStore, sha256: string): Promise<{ path: string; sha256: string }> {
  const dir = join(tmpdir(), 'ferry-worker-bundles', sha256);
  const path = join(dir, 'bundle.cjs');
  const have = await readFile(path).catch(() => null);
  if (have && createHash('sha256').update(have).digest('hex') === sha256) return { path, sha256 };
  const bytes = await store.getBundle(sha256);
  if (!bytes || createHash('sha256').update(bytes).digest('hex') !== sha256) {
    throw new FerryError('BUNDLE_CORRUPT', 'system', `the run store's bundle ${sha256} is missing or no longer matches its sha256`, { hint: 'the queued run was recorded in another run store: point FERRY_STATE_URL at it' });
  }
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return { path, sha256 };
}
