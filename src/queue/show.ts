/**
 * A queued run as people read it, for `ferry runs show <run>` (text) and `ferry serve` (JSON,
 * the same object): the queued run a plan's run belongs to, the plan's key ranges (range,
 * state, rows, attempts, worker, last error), the workers that held them (host, pid, last
 * heartbeat, alive or stale), and what every range inserted, counted from the target's
 * mappings (tally.ts). Nothing when the run was not queued.
 */
import type pg from 'pg';
import { connect } from '../db/connect.js';
import type { Queryable } from '../core/sql.js';
import { QueueDb, type PartitionRow, type RollbackRecord, type WorkerRow } from './queue-db.js';
import { rangeText, tallyLines, tallyRanges, type PlanTally } from './tally.js';

export type Liveness = 'alive' | 'stale' | 'stopped' | 'lost' | 'refused';

export interface QueueView {
  queueRunId: number;
  status: string;
  errorCode: string | null;
  error: string | null;
  /** This plan of the queued run (one for a plan, one of several for a plan set). */
  plan: { idx: number; storeRunId: number; targetTable: string; state: string; parents: number[]; reportStatus: string | null };
  /** Every plan of the queued run, in the set's order. */
  plans: Array<{ idx: number; storeRunId: number; targetTable: string; state: string }>;
  partitions: PartitionRow[];
  workers: Array<WorkerRow & { liveness: Liveness }>;
  /** What each range inserted, from the target's mappings; null when the target was not read. */
  tally: PlanTally | null;
  rolledBack: RollbackRecord | null;
  leaseMs: number;
}

/** Alive while it heartbeats within the lease; stale when it has not for longer (about to be declared lost). */
export function liveness(w: WorkerRow, leaseMs: number): Liveness {
  if (w.state === 'running' || w.state === 'stopping') return w.heartbeatAgeSeconds * 1000 <= leaseMs ? 'alive' : 'stale';
  return w.state === 'stopped' || w.state === 'lost' || w.state === 'refused' ? w.state : 'stale';
}

/** The view of a run-store run, read over an open connection to the run store's database; null when it was not queued. */
export async function queueViewOf(state: pg.Client, storeRunId: number, target: Queryable | null, leaseMs: number): Promise<QueueView | null> {
  if (!(await QueueDb.present(state))) return null;
  const queue = QueueDb.over(state);
  const plan = await queue.planOfStoreRun(storeRunId);
  if (!plan) return null;
  const run = await queue.run(plan.queueRunId);
  const partitions = await queue.partitions(plan.queueRunId, plan.idx);
  const plans = await queue.plans(plan.queueRunId);
  const rolledBack = await queue.rollbackOf(plan.queueRunId);
  return {
    queueRunId: plan.queueRunId,
    ...run,
    plan: { idx: plan.idx, storeRunId: plan.storeRunId, targetTable: plan.targetTable, state: plan.state, parents: plan.parents, reportStatus: plan.reportStatus },
    plans: plans.map((p) => ({ idx: p.idx, storeRunId: p.storeRunId, targetTable: p.targetTable, state: p.state })),
    partitions,
    workers: (await queue.workers(plan.queueRunId)).map((w) => ({ ...w, liveness: liveness(w, leaseMs) })),
    // After a rollback the mappings are gone: a tally would count nothing and call every row "migrated before".
    tally: target && !rolledBack ? await tallyRanges(target, partitions) : null,
    rolledBack,
    leaseMs,
  };
}

/** `ferry runs show`'s queue section: the state database at `url`, the tally read from `targetUrl` when given. */
export async function queueSection(url: string, storeRunId: number, targetUrl: string | null, leaseMs: number): Promise<string[]> {
  const state = await connect(url, 'target', 'ferry-queue');
  const target = targetUrl && targetUrl !== url ? await connect(targetUrl, 'target', 'ferry-queue').catch(() => null) : null;
  try {
    const view = await queueViewOf(state, storeRunId, targetUrl === url ? state : target, leaseMs);
    return view ? queueViewLines(view) : [];
  } finally {
    await state.end().catch(() => undefined);
    await target?.end().catch(() => undefined);
  }
}

export function queueViewLines(v: QueueView): string[] {
  const set = v.plans.length > 1 ? `; plan ${v.plan.idx + 1} of ${v.plans.length} (${v.plans.map((p) => `${p.targetTable} ${p.state}`).join(', ')})` : '';
  const rolled = v.rolledBack
    ? [`↩ rolled back as a whole by ${v.rolledBack.by} at ${v.rolledBack.at}: ${v.rolledBack.rowsDeleted} rows and ${v.rolledBack.mappingsDeleted} mappings deleted (migrations ${v.rolledBack.migrationIds.join(', ')})`]
    : [];
  return [
    '',
    `Queued run ${v.queueRunId}: ${v.status}${v.errorCode ? ` (${v.errorCode}: ${v.error})` : ''}; this plan ${v.plan.state}${v.plan.parents.length ? `, after plan(s) ${v.plan.parents.map((i) => i + 1).join(', ')} of the set` : ''}${set}`,
    ...rolled,
    `Partitions of ${v.plan.targetTable} (${v.partitions.length})`,
    ...v.partitions.map(partitionLine),
    ...(v.tally ? ['Inserted by this run (counted from the target\'s mappings)', ...tallyLines(v.tally)] : []),
    'Workers',
    ...v.workers.map((w) => workerLine(w, w.liveness)),
  ];
}

export function partitionLine(p: PartitionRow): string {
  const rows = `${p.rowsDone}${p.toMigrate === null ? '' : `/${p.toMigrate}`} rows`;
  const what = p.errorCode ? `  ${p.errorCode}${p.errorKey ? ` at key ${p.errorKey}` : ''}: ${p.error}` : p.note ? `  ${p.note}` : '';
  return `  ${String(p.idx + 1).padStart(3)}/${p.count}  ${p.state.padEnd(9)} ${rangeText(p.range)}  ${rows}, ${p.attempts} attempt(s)${p.workerId ? ` on ${p.workerId}` : ''}${p.migrationIds.length ? `, migration ${p.migrationIds.join(', ')}` : ''}${what}`;
}

export function workerLine(w: WorkerRow, alive?: Liveness): string {
  const state = alive && alive !== w.state ? `${w.state} (${alive})` : w.state;
  return `  ${w.id.padEnd(28)} host ${w.host}, pid ${w.pid}, ${state}, last heartbeat ${w.heartbeatAt} (${Math.round(w.heartbeatAgeSeconds)} s ago)${w.detail && w.state !== 'running' ? ` — ${w.detail}` : ''}`;
}
