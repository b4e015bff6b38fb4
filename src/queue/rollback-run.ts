/**
 * `ferry rollback <queued run> --queue`: every range of every plan of a queued run rolled back
 * at once — exactly the rows their mappings name, as `ferry rollback` does for one migration.
 *
 * All or nothing, in one transaction on the target: a queued run is what the person asked
 * for, and half of it rolled back (some ranges gone, others not; a parent gone under its
 * children) is a state nobody asked for and no validation describes. One transaction also
 * makes a failure (a row someone else points at, a lock) leave the target exactly as it was.
 * Its cost — every row of the run deleted in one transaction — is what a single run's
 * rollback already does for a run of that size.
 *
 * Safety, as for one migration (orchestrator/rollback.ts): each range's migration_control row
 * must agree with the run store (CONTROL_TAMPERED / CONTROL_UNRECORDED), rows that anything
 * outside the rollback points at refuse it (ROLLBACK_REFERENCED / ROLLBACK_HAS_DEPENDANTS),
 * and each table's advisory lock is taken exclusively (a range still writing holds it shared).
 * Plans are rolled back children before parents; within a plan, one DELETE over all its
 * ranges, so rows pointing at rows of another range of the same table (a self-reference)
 * go together.
 */
import type pg from 'pg';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { getControl, planTables, targetIdentity } from '../control/control-tables.js';
import { FerryError } from '../core/errors.js';
import { qualified, quoteIdent } from '../core/sql.js';
import { columnType, findDependants, trustedPlan } from '../orchestrator/rollback.js';
import { lockTable, unlockTable } from '../orchestrator/prepare.js';
import type { RunStore } from '../store/run-store.js';
import { beginWrite } from '../target/timeouts.js';
import type { PartitionRow, PlanRow, QueueDb } from './queue-db.js';

export interface QueuedRollbackInput {
  queue: QueueDb;
  queueRunId: number;
  target: pg.Client;
  store: Pick<RunStore, 'migrationRecord'>;
  trustControl?: boolean;
  by: string;
  /** Only this plan of the set (the service's rollback of one plan's run); default every plan. */
  planIdx?: number;
}

export interface QueuedRollbackResult {
  queueRunId: number;
  status: 'rolled_back' | 'already_rolled_back';
  /** In the order rolled back: children before parents. */
  plans: Array<{ planIdx: number; targetTable: string; migrationIds: number[]; rowsDeleted: number; mappingsDeleted: number }>;
  rowsDeleted: number;
  mappingsDeleted: number;
}

/** One plan, checked and ready: the recorded plan its rows are deleted by, and the migrations still live. */
interface Doomed {
  row: PlanRow;
  plan: MigrationPlan;
  targetKey: string;
  live: number[];
  pkType: string;
}

export async function rollbackQueuedRun(input: QueuedRollbackInput): Promise<QueuedRollbackResult> {
  const { queue, queueRunId, target } = input;
  const run = await queue.run(queueRunId);
  const plans = (await queue.plans(queueRunId)).filter((p) => input.planIdx === undefined || p.idx === input.planIdx);
  const parts = await queue.partitions(queueRunId);
  assertSettled(queueRunId, run.status, plans, parts);
  const ordered = childrenFirst(plans);
  const locked: string[] = [];
  try {
    for (const key of new Set(ordered.map((p) => p.targetTable))) {
      await lockTable(target, key);
      locked.push(key);
    }
    const doomed: Doomed[] = [];
    for (const p of ordered) {
      const d = await checkPlan(input, p, parts.filter((x) => x.planIdx === p.idx));
      if (d) doomed.push(d);
    }
    if (doomed.length === 0) return { queueRunId, status: 'already_rolled_back', plans: [], rowsDeleted: 0, mappingsDeleted: 0 };
    await assertNoOutsideDependants(target, doomed);
    const done = await deleteAll(target, queueRunId, doomed);
    const result: QueuedRollbackResult = { queueRunId, status: 'rolled_back', plans: done, rowsDeleted: sum(done, 'rowsDeleted'), mappingsDeleted: sum(done, 'mappingsDeleted') };
    if (input.planIdx === undefined) await record(queue, input.by, result);
    return result;
  } finally {
    for (const key of locked) await unlockTable(target, key);
  }
}

const sum = (xs: QueuedRollbackResult['plans'], k: 'rowsDeleted' | 'mappingsDeleted') => xs.reduce((n, x) => n + x[k], 0);

/** Refused while anything of the run may still write: the run going on, a range running, a plan in its last step. */
function assertSettled(queueRunId: number, status: string, plans: PlanRow[], parts: PartitionRow[]): void {
  const running = parts.filter((p) => p.state === 'running');
  const pending = status === 'running' ? parts.filter((p) => p.state === 'queued' || p.state === 'waiting') : [];
  const finishing = plans.filter((p) => p.state === 'validating');
  if (running.length === 0 && pending.length === 0 && finishing.length === 0) return;
  const what = [
    ...running.map((p) => `range ${p.idx + 1}/${p.count} of ${plans.find((x) => x.idx === p.planIdx)?.targetTable ?? `plan ${p.planIdx + 1}`} is running${p.workerId ? ` on ${p.workerId}` : ''}`),
    ...(pending.length ? [`${pending.length} range(s) are still queued for workers`] : []),
    ...finishing.map((p) => `${p.targetTable} is being validated`),
  ];
  throw new FerryError('QUEUED_RUN_IN_PROGRESS', 'user', `queued run ${queueRunId} is ${status === 'running' ? 'still running' : 'not settled'}: ${what.join('; ')}; nothing was rolled back`, {
    hint: `wait for it to end (ferry runs show <run> shows its ranges); a range whose worker died is handed back to the queue once its lease lapses — then roll back with ferry rollback ${queueRunId} --queue`,
    details: { queueRunId, running: running.map((p) => ({ plan: p.planIdx, range: p.idx, worker: p.workerId })), pending: pending.length },
  });
}

/** Plans ordered so that every plan comes before the plans it resolves references through. */
export function childrenFirst(plans: readonly PlanRow[]): PlanRow[] {
  const left = [...plans];
  const out: PlanRow[] = [];
  while (left.length > 0) {
    // A plan goes once no plan left lists it as a parent (its children are out already).
    const i = left.findIndex((p) => !left.some((c) => c !== p && c.parents.includes(p.idx)));
    // A cycle cannot come from a plan set (its order is a dependency order); take the latest rather than loop.
    out.push(...left.splice(i < 0 ? left.length - 1 : i, 1));
  }
  return out;
}

/** Each range's control row checked against the run store; null when every one is rolled back already. */
async function checkPlan(input: QueuedRollbackInput, row: PlanRow, parts: PartitionRow[]): Promise<Doomed | null> {
  const ids = [...new Set(parts.flatMap((p) => p.migrationIds))].sort((a, b) => a - b);
  let plan: MigrationPlan | null = null;
  const live: number[] = [];
  const targetId = input.store ? await targetIdentity(input.target) : undefined;
  for (const id of ids) {
    const control = await getControl(input.target, id);
    if (!control) {
      throw new FerryError('MIGRATION_NOT_FOUND', 'user', `migration ${id} (a range of ${row.targetTable} in queued run ${input.queueRunId}) has no row in ferry_control.migration_control; nothing was rolled back`, {
        hint: 'someone deleted it; its rows cannot be told apart from others without it — restore migration_control from a backup',
      });
    }
    if (control.status === 'rolled_back') continue;
    const recorded = await trustedPlan(control, input.store, input.trustControl === true, targetId);
    if (control.planHash !== row.planHash) {
      throw new FerryError('CONTROL_TAMPERED', 'user', `migration ${id}'s plan hash ${control.planHash} is not the plan queued run ${input.queueRunId} ran for ${row.targetTable} (${row.planHash}); nothing was rolled back`, {
        hint: 'someone changed ferry_control.migration_control or ferry_queue.partitions; find out who could write them',
      });
    }
    plan = recorded;
    live.push(id);
  }
  if (!plan) return null;
  const pkType = await columnType(input.target, plan.target.schema, plan.target.table, plan.target.primaryKey);
  if (!pkType) throw new FerryError('COLUMN_NOT_FOUND', 'user', `${plan.target.table}.${plan.target.primaryKey} no longer exists; nothing was rolled back`);
  return { row, plan, targetKey: planTables(plan).targetTable, live, pkType };
}

/** Rows pointed at by rows outside this rollback refuse it, naming them. */
async function assertNoOutsideDependants(target: pg.Client, doomed: Doomed[]): Promise<void> {
  const inside = new Set(doomed.flatMap((d) => d.live));
  const outside: string[] = [];
  const untracked: string[] = [];
  for (const d of doomed) {
    for (const id of d.live) {
      const deps = await findDependants(target, d.plan, id);
      for (const m of deps.migrations) if (!inside.has(m.id)) outside.push(`migration ${m.id} (${m.table}.${m.column}, ${m.rows} row(s)) points at ${d.targetKey}`);
      for (const u of deps.untracked) untracked.push(`${u.rows} row(s) of ${u.table}.${u.column} point at ${d.targetKey}`);
    }
  }
  if (untracked.length) {
    throw new FerryError('ROLLBACK_REFERENCED', 'user', `rows no ferry run wrote point at rows of this queued run: ${[...new Set(untracked)].join(', ')}; nothing was rolled back`, {
      hint: 'change or delete those rows first; ferry only removes rows it wrote',
    });
  }
  if (outside.length) {
    throw new FerryError('ROLLBACK_HAS_DEPENDANTS', 'user', `later migrations point at rows of this queued run: ${[...new Set(outside)].join(', ')}; nothing was rolled back`, {
      hint: 'roll those back first (ferry rollback <migration>, or the whole queued run they belong to with --queue)',
    });
  }
}

/** Children first, one transaction: each plan's rows through its mappings, the mappings, its control rows. */
async function deleteAll(target: pg.Client, queueRunId: number, doomed: Doomed[]): Promise<QueuedRollbackResult['plans']> {
  const out: QueuedRollbackResult['plans'] = [];
  try {
    await beginWrite(target);
    for (const d of doomed) {
      const { plan } = d;
      const del = await target.query<{ id: string; n: string }>(
        `WITH d AS (DELETE FROM ${qualified(plan.target.schema, plan.target.table)} t USING ferry_control.migration_mappings m
                     WHERE m.migration_id = ANY($1::bigint[]) AND m.target_table = $2 AND t.${quoteIdent(plan.target.primaryKey)} = m.new_id::${d.pkType}
                     RETURNING m.migration_id)
         SELECT migration_id AS id, count(*) AS n FROM d GROUP BY 1`,
        [d.live, d.targetKey],
      );
      const perId = new Map(del.rows.map((r) => [Number(r.id), Number(r.n)]));
      const maps = await target.query('DELETE FROM ferry_control.migration_mappings WHERE migration_id = ANY($1::bigint[])', [d.live]);
      await target.query(
        `UPDATE ferry_control.migration_control c SET rows_rolled_back = COALESCE(c.rows_rolled_back, 0) + x.n, status = 'rolled_back', rolled_back_at = now()
           FROM unnest($1::bigint[], $2::bigint[]) AS x(id, n) WHERE c.id = x.id`,
        [d.live, d.live.map((id) => perId.get(id) ?? 0)],
      );
      out.push({ planIdx: d.row.idx, targetTable: d.targetKey, migrationIds: d.live, rowsDeleted: [...perId.values()].reduce((a, b) => a + b, 0), mappingsDeleted: maps.rowCount ?? 0 });
    }
    await target.query('COMMIT');
    return out;
  } catch (e) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new FerryError('ROLLBACK_FAILED', 'third_party', `rollback of queued run ${queueRunId} failed and changed nothing: ${(e as Error).message}`, {
      cause: e,
      hint: 'if another table references these rows, roll back or fix that first',
    });
  }
}

async function record(queue: QueueDb, by: string, r: QueuedRollbackResult): Promise<void> {
  await queue.db.query(
    `INSERT INTO ferry_queue.rollbacks (queue_run_id, rolled_back_by, migration_ids, rows_deleted, mappings_deleted) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (queue_run_id) DO UPDATE SET rolled_back_by = EXCLUDED.rolled_back_by, migration_ids = ferry_queue.rollbacks.migration_ids || EXCLUDED.migration_ids,
       rows_deleted = ferry_queue.rollbacks.rows_deleted + EXCLUDED.rows_deleted, mappings_deleted = ferry_queue.rollbacks.mappings_deleted + EXCLUDED.mappings_deleted, at = now()`,
    [r.queueRunId, by, r.plans.flatMap((p) => p.migrationIds), r.rowsDeleted, r.mappingsDeleted],
  );
}
