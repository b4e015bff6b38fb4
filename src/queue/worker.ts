/**
 * `ferry worker`: one process on any host that reaches the databases and has a Docker engine.
 * It refuses to claim anything when its Docker does not answer (a partition would only fail
 * there); otherwise it registers, heartbeats, sweeps lost workers, and runs up to
 * `concurrency` ranges at once. On stop (SIGTERM) it claims nothing more, lets each range in
 * hand finish its batch in flight, hands those ranges back to the queue, and says goodbye.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { openConnections, type ConnectionOptions } from '../chain.js';
import type { Logger } from '../logger.js';
import type { RunStore } from '../store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { chooseDriver } from '../../sandbox/index.js';
import type { SandboxNode } from '../../sandbox/image.js';
import { openBoss, PARTITION_QUEUE, type PartitionJob } from './boss.js';
import { runPartitionJob, type WorkerContext } from './partition-job.js';
import { QueueDb } from './queue-db.js';
import type { QueueSettings } from './settings.js';
import { sweepLostWorkers } from './supervise.js';
import { finishAbandonedPlans } from './finish-plan.js';

export interface WorkerOptions {
  stateUrl: string;
  sourceUrl: string;
  targetUrl: string;
  connection: ConnectionOptions;
  store: RunStore;
  queue: QueueDb;
  concurrency: number;
  settings: QueueSettings;
  node: SandboxNode;
  logger: Logger;
  say: (line: string) => void;
  /** Aborted to stop (the CLI aborts it on SIGTERM / SIGINT). */
  stop: AbortSignal;
}

/** Runs until `stop`; 0 after a clean stop, 3 when it refused to start (no Docker). */
export async function runWorkerProcess(o: WorkerOptions): Promise<number> {
  const id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 4)}`;
  const register = (state: string, detail: string) =>
    o.queue.db.query(`INSERT INTO ferry_queue.workers (id, host, pid, concurrency, state, detail) VALUES ($1, $2, $3, $4, $5, $6)`, [id, hostname(), process.pid, o.concurrency, state, detail]);
  let driver;
  try {
    const choice = await chooseDriver({ prefer: 'docker', allowWeak: false, node: o.node });
    driver = choice.driver;
    await register('running', choice.detail);
    o.say(`👷 worker ${id}: ${choice.detail}; up to ${o.concurrency} range(s) at once`);
  } catch (e) {
    const why = (e as Error).message;
    await register('refused', why);
    o.say(`✋ worker ${id} refuses to claim jobs: ${why}`);
    o.say('   start the Docker daemon this worker reaches (DOCKER_HOST), then start the worker again');
    return 3;
  }
  const boss = await openBoss(o.stateUrl, o.settings, (err) => o.logger.warn({ err }, 'pg-boss'));
  const ctx: WorkerContext = {
    workerId: id,
    store: o.store,
    queue: o.queue,
    boss,
    connect: () => openConnections(o.sourceUrl, o.targetUrl, o.connection),
    driver,
    policy: defaultPolicy,
    settings: o.settings,
    logger: o.logger,
    signal: o.stop,
    say: o.say,
  };
  // Its own connection: a heartbeat must not wait behind the ranges' event writes.
  const beatDb = await QueueDb.open(o.stateUrl);
  const beatCtx = { ...ctx, queue: beatDb };
  const inFlight = new Set<Promise<void>>();
  const finishLeftovers = leftoverFinisher(ctx, inFlight, o.stop, o.logger);
  const beat = setInterval(
    () =>
      void heartbeat(beatCtx)
        .then(finishLeftovers)
        .catch((err: unknown) => o.logger.warn({ err }, 'heartbeat failed')),
    o.settings.heartbeatMs,
  );
  try {
    for (let i = 0; i < o.concurrency; i += 1) {
      await boss.work<PartitionJob>(PARTITION_QUEUE, { batchSize: 1, pollingIntervalSeconds: o.settings.pollingSeconds }, async ([job]) => {
        if (!job || o.stop.aborted) throw new Error('the worker is stopping');
        const p = runPartitionJob(ctx, job.data);
        inFlight.add(p);
        try {
          await p;
        } finally {
          inFlight.delete(p);
        }
      });
    }
    await new Promise<void>((resolve) => (o.stop.aborted ? resolve() : o.stop.addEventListener('abort', () => resolve(), { once: true })));
    o.say(`⏹ worker ${id} stopping: no new ranges; ${inFlight.size} in hand stop after their batch in flight`);
    await o.queue.db.query(`UPDATE ferry_queue.workers SET state = 'stopping' WHERE id = $1 AND state = 'running'`, [id]);
    await boss.offWork(PARTITION_QUEUE);
    await Promise.allSettled([...inFlight]);
  } finally {
    clearInterval(beat);
    await boss.stop({ graceful: true, wait: true, timeout: 10_000 }).catch((err: unknown) => o.logger.warn({ err }, 'pg-boss stop'));
    await o.queue.db.query(`UPDATE ferry_queue.workers SET state = 'stopped', heartbeat_at = now() WHERE id = $1 AND state IN ('running', 'stopping')`, [id]);
    await beatDb.close();
  }
  o.say(`👋 worker ${id} stopped`);
  return 0;
}

/**
 * After each heartbeat's sweep: plans a lost worker was finishing, finished here, one pass at a
 * time, on the worker's main connection (not the heartbeat's), awaited at stop like a range.
 */
function leftoverFinisher(ctx: WorkerContext, inFlight: Set<Promise<void>>, stop: AbortSignal, logger: Logger): () => void {
  let finishing: Promise<void> | null = null;
  return () => {
    if (finishing || stop.aborted) return;
    const p = finishAbandonedPlans(ctx)
      .catch((err: unknown) => logger.warn({ err }, 'finishing abandoned plans failed'))
      .finally(() => {
        finishing = null;
        inFlight.delete(p);
      });
    finishing = p;
    inFlight.add(p);
  };
}

/**
 * The lease renewed; lost workers of others swept. A worker declared lost that still lives
 * (starved of CPU past its lease) takes its place again and says so: the ranges it held were
 * handed on, and its own attempt at them ends at their advisory lock or finds them done.
 */
async function heartbeat(ctx: WorkerContext): Promise<void> {
  const r = await ctx.queue.db.query<{ was: string }>(
    `UPDATE ferry_queue.workers w SET heartbeat_at = now(), state = CASE WHEN w.state = 'lost' THEN 'running' ELSE w.state END
       FROM (SELECT state FROM ferry_queue.workers WHERE id = $1 FOR UPDATE) old WHERE w.id = $1 RETURNING old.state AS was`,
    [ctx.workerId],
  );
  if (r.rows[0]?.was === 'lost') ctx.say(`⚠ worker ${ctx.workerId} was declared lost (its heartbeat lapsed past the lease) and is back; the ranges it held went to other workers`);
  await sweepLostWorkers(ctx.queue, ctx.boss, ctx.settings.leaseMs, ctx.say);
}
