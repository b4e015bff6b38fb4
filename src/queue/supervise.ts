/**
 * A worker's lease is its heartbeat: a worker whose last heartbeat is older than the lease is
 * lost (SIGKILLed, its machine gone, cut off), and the ranges it held go back to the queue at
 * once (pg-boss `fail` puts an active job in `retry` while retries remain). Every live worker
 * and every following `ferry run --queue` sweeps; the UPDATE decides, so each lost worker is
 * handled once. A worker thought lost that still lives cannot write beside its successor: the
 * range's advisory lock in the target is held by its session (prepare.ts lockPartition).
 */
import type PgBoss from 'pg-boss';
import { PARTITION_QUEUE } from './boss.js';
import { recordEvent } from './partition-job.js';
import type { QueueDb } from './queue-db.js';

export async function sweepLostWorkers(queue: QueueDb, boss: PgBoss, leaseMs: number, say: (line: string) => void): Promise<string[]> {
  const lost = await queue.db.query<{ id: string; age: string }>(
    `UPDATE ferry_queue.workers SET state = 'lost', detail = 'no heartbeat since ' || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
      WHERE state IN ('running', 'stopping') AND heartbeat_at < now() - make_interval(secs => $1::float8 / 1000)
      RETURNING id, extract(epoch FROM now() - heartbeat_at)::int AS age`,
    [leaseMs],
  );
  for (const w of lost.rows) {
    const parts = await queue.db.query<{ queue_run_id: string; plan_idx: number; idx: number; count: number; job_id: string | null; attempts: number }>(
      `UPDATE ferry_queue.partitions SET state = 'queued', note = $2, updated_at = now()
        WHERE worker_id = $1 AND state = 'running' RETURNING queue_run_id, plan_idx, idx, count, job_id, attempts`,
      [w.id, `worker ${w.id} lost (no heartbeat for ${w.age} s); retried by the queue after its committed batches`],
    );
    for (const p of parts.rows) {
      const job = { queueRunId: Number(p.queue_run_id), planIdx: p.plan_idx, partitionIdx: p.idx };
      await recordEvent({ queue }, job, p.attempts, { type: 'worker_lost', worker_id: w.id, heartbeatAgeSeconds: Number(w.age) });
      if (p.job_id) await boss.fail(PARTITION_QUEUE, p.job_id, { message: `worker ${w.id} lost` });
      say(`⚠ worker ${w.id} lost (no heartbeat for ${w.age} s): partition ${p.idx + 1}/${p.count} of queued run ${p.queue_run_id} goes back to the queue`);
    }
  }
  // A plan a lost worker was validating goes back: a live worker finishes it (worker.ts, finishAbandonedPlans).
  const released = await queue.db.query<{ queue_run_id: string; idx: number; target_table: string; worker_id: string }>(
    `UPDATE ferry_queue.plans p SET state = 'queued', worker_id = NULL
       FROM ferry_queue.workers w, (SELECT queue_run_id, idx, worker_id FROM ferry_queue.plans) old
      WHERE p.state = 'validating' AND p.worker_id = w.id AND w.state = 'lost' AND old.queue_run_id = p.queue_run_id AND old.idx = p.idx
      RETURNING p.queue_run_id, p.idx, p.target_table, old.worker_id`,
  );
  for (const p of released.rows) say(`⚠ worker ${p.worker_id} was lost while finishing ${p.target_table} (queued run ${p.queue_run_id}): its validation goes to another worker`);
  return lost.rows.map((w) => w.id);
}
