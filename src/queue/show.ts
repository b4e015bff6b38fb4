/**
 * The queue's part of `ferry runs show <run>`: the queued run a plan's run belongs to, the
 * plan's key ranges (state, rows, attempts, worker, what happened), and the workers that held
 * them (host, pid, last heartbeat). Nothing when the run was not queued.
 */
import { connect } from '../db/connect.js';
import { QueueDb, type PartitionRow, type WorkerRow } from './queue-db.js';

export async function queueSection(url: string, storeRunId: number): Promise<string[]> {
  const probe = await connect(url, 'target', 'ferry-queue');
  try {
    const r = await probe.query<{ present: boolean }>(`SELECT to_regclass('ferry_queue.plans') IS NOT NULL AS present`);
    if (!r.rows[0]?.present) return [];
  } finally {
    await probe.end().catch(() => undefined);
  }
  const queue = await QueueDb.open(url);
  try {
    const plan = await queue.planOfStoreRun(storeRunId);
    if (!plan) return [];
    const run = await queue.run(plan.queueRunId);
    const parts = await queue.partitions(plan.queueRunId, plan.idx);
    const lines = [
      '',
      `Queued run ${plan.queueRunId}: ${run.status}${run.errorCode ? ` (${run.errorCode}: ${run.error})` : ''}; this plan ${plan.state}${plan.parents.length ? `, after plan(s) ${plan.parents.map((i) => i + 1).join(', ')} of the set` : ''}`,
      `Partitions of ${plan.targetTable} (${parts.length})`,
      ...parts.map(partitionLine),
      'Workers',
      ...(await queue.workers(plan.queueRunId)).map(workerLine),
    ];
    return lines;
  } finally {
    await queue.close();
  }
}

export function partitionLine(p: PartitionRow): string {
  const range = `${p.range.lo ?? '−∞'} < key ≤ ${p.range.hi ?? '+∞'}`;
  const rows = `${p.rowsDone}${p.toMigrate === null ? '' : `/${p.toMigrate}`} rows, ${p.rowsInserted} inserted`;
  const what = p.errorCode ? `  ${p.errorCode}${p.errorKey ? ` at key ${p.errorKey}` : ''}: ${p.error}` : p.note ? `  ${p.note}` : '';
  return `  ${String(p.idx + 1).padStart(3)}/${p.count}  ${p.state.padEnd(9)} ${range}  ${rows}, ${p.attempts} attempt(s)${p.workerId ? ` on ${p.workerId}` : ''}${p.migrationIds.length ? `, migration ${p.migrationIds.join(', ')}` : ''}${what}`;
}

export function workerLine(w: WorkerRow): string {
  return `  ${w.id.padEnd(28)} host ${w.host}, pid ${w.pid}, ${w.state}, last heartbeat ${w.heartbeatAt} (${Math.round(w.heartbeatAgeSeconds)} s ago)${w.detail && w.state !== 'running' ? ` — ${w.detail}` : ''}`;
}
