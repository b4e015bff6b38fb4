/**
 * pg-boss, ferry's job queue: in the run store's database, schema `ferry_jobs`. Chosen over
 * graphile-worker because its 10.x line runs on Node 20 (graphile-worker 0.18 wants Node 22,
 * and 0.16/0.17 keep a job locked for a fixed four hours after its worker dies), needs three
 * small dependencies, and can fail an active job from outside (`fail`), which is how a
 * worker's lapsed heartbeat hands its partition to the next worker at once (supervise.ts).
 */
import PgBoss from 'pg-boss';
import { withLibpqTls } from '../db/tls.js';
import type { QueueSettings } from './settings.js';

export const BOSS_SCHEMA = 'ferry_jobs';
/** One queue: every job is one key range of one plan. */
export const PARTITION_QUEUE = 'ferry-partition';

export interface PartitionJob {
  queueRunId: number;
  planIdx: number;
  partitionIdx: number;
}

/** Started, with the partition queue created (idempotent). */
export async function openBoss(url: string, settings: QueueSettings, onError: (e: Error) => void): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: withLibpqTls(url),
    schema: BOSS_SCHEMA,
    application_name: 'ferry-jobs',
    max: 4,
    // pg-boss's own expiry is only a backstop (a worker alive but wedged for a day); a dead
    // worker's job is failed over by its lapsed heartbeat long before (supervise.ts).
    expireInHours: 23,
    maintenanceIntervalSeconds: Math.max(1, Math.round(settings.leaseMs / 1000)),
    schedule: false,
  });
  boss.on('error', onError);
  await boss.start();
  await boss.createQueue(PARTITION_QUEUE, {
    name: PARTITION_QUEUE,
    // ferry counts attempts itself (partition-job.ts); pg-boss's limit only has to stay out of the way.
    retryLimit: 2 * settings.retryLimit + 2,
    retryDelay: settings.retryDelaySeconds,
    expireInHours: 23,
  });
  return boss;
}
