/**
 * What happens when a plan's last range completes: exactly one worker wins the plan (a
 * conditional UPDATE, so two ranges finishing together cannot both), validates the table once,
 * records the plan's run in the run store, and sends the jobs of the children now free to run.
 * Or, when a range fails for good, the queued run fails: its other jobs are cancelled.
 */
import type PgBoss from 'pg-boss';
import type { Connections } from '../chain.js';
import { targetTableOf } from '../chain.js';
import { isSelfReference, MigrationPlan, viaMappingColumns } from '../core/artifacts/migration-plan.js';
import { findTable, type TableInfo } from '../core/artifacts/schema-analysis.js';
import { lockTable, openSnapshot, sourceQuery, unlockTable } from '../orchestrator/prepare.js';
import { resolveSelfReferences } from '../orchestrator/self-references.js';
import type { RunStore } from '../store/run-store.js';
import { refreshStatistics } from '../validation/statistics.js';
import { validateMigration } from '../validation/validate.js';
import { PARTITION_QUEUE } from './boss.js';
import { sendPlanJobs } from './enqueue.js';
import { toPlan, type PlanRow, type QueueDb } from './queue-db.js';
import { tallyRanges } from './tally.js';

interface FinishContext {
  /** The worker finishing the plan: it holds the plan while it validates (a lost worker's plan is released: supervise.ts). */
  workerId: string;
  store: RunStore;
  queue: QueueDb;
  boss: PgBoss;
  connect: () => Promise<Connections>;
  say: (line: string) => void;
}

export async function finishPlanIfDone(ctx: FinishContext, queueRunId: number, planIdx: number): Promise<void> {
  const won = await ctx.queue.db.query(
    `UPDATE ferry_queue.plans p SET state = 'validating', worker_id = $3
      WHERE queue_run_id = $1 AND idx = $2 AND state = 'queued'
        AND NOT EXISTS (SELECT 1 FROM ferry_queue.partitions x WHERE x.queue_run_id = p.queue_run_id AND x.plan_idx = p.idx AND x.state <> 'completed')
      RETURNING *`,
    [queueRunId, planIdx, ctx.workerId],
  );
  if (!won.rows[0]) return;
  const plan = toPlan(won.rows[0]);
  const stage = { now: 'validation' };
  try {
    await completePlan(ctx, plan, stage);
  } catch (e) {
    // A stage that could not run decides nothing: the plan and the run fail, saying why, instead of waiting forever.
    const code = stage.now === 'validation' ? 'VALIDATION_NOT_RUN' : ((e as { code?: unknown }).code as string | undefined) ?? 'SELF_REFERENCES_NOT_RESOLVED';
    const key = (e as { key?: string }).key;
    const message = `${stage.now} of ${plan.targetTable} could not run${key ? ` (at legacy key ${key})` : ''}: ${(e as Error).message}; its rows are written — ${stage.now === 'validation' ? 'run ferry validate on its migrations' : 'fix the cause, then roll the run back (ferry rollback <queued run> --queue) or run the plan again without --queue to finish it'}`;
    if (!(await settlePlan(ctx, queueRunId, planIdx, 'failed'))) return;
    await ctx.store.finishRun(plan.storeRunId, { status: 'failed', errorCode: code, error: message, outcome: { queued: true, queueRunId } });
    await failQueuedRun(ctx, queueRunId, null, code, message);
  }
}

/**
 * The plan's end, written only while this worker still holds it: a worker declared lost while
 * it validated (its heartbeat starved past the lease) may come back to find the plan handed to
 * another, which finishes it (the same validation, the same record); this one then stops.
 */
async function settlePlan(ctx: FinishContext, queueRunId: number, planIdx: number, state: 'completed' | 'failed', reportStatus?: string): Promise<boolean> {
  const r = await ctx.queue.db.query(
    `UPDATE ferry_queue.plans SET state = $3, report_status = coalesce($5, report_status)
      WHERE queue_run_id = $1 AND idx = $2 AND state = 'validating' AND worker_id = $4`,
    [queueRunId, planIdx, state, ctx.workerId, reportStatus ?? null],
  );
  if (r.rowCount === 1) return true;
  ctx.say(`⚠ plan ${planIdx + 1} of queued run ${queueRunId} was handed to another worker while this one (${ctx.workerId}) finished it: left to that worker`);
  return false;
}

/**
 * Plans whose ranges have all completed but that nobody is finishing (the worker validating one
 * was lost, and the sweep put it back): finished here, one at a time. Safe to call from every
 * worker at once: finishPlanIfDone's conditional UPDATE lets one win each plan.
 */
export async function finishAbandonedPlans(ctx: FinishContext): Promise<void> {
  const r = await ctx.queue.db.query<{ queue_run_id: string; idx: number }>(
    `SELECT p.queue_run_id, p.idx FROM ferry_queue.plans p JOIN ferry_queue.runs r ON r.id = p.queue_run_id
      WHERE p.state = 'queued' AND r.status = 'running'
        AND EXISTS (SELECT 1 FROM ferry_queue.partitions x WHERE x.queue_run_id = p.queue_run_id AND x.plan_idx = p.idx)
        AND NOT EXISTS (SELECT 1 FROM ferry_queue.partitions x WHERE x.queue_run_id = p.queue_run_id AND x.plan_idx = p.idx AND x.state <> 'completed')
        -- Not a plan whose last range just completed: its own worker is about to finish it.
        AND NOT EXISTS (SELECT 1 FROM ferry_queue.partitions x WHERE x.queue_run_id = p.queue_run_id AND x.plan_idx = p.idx AND x.updated_at > now() - interval '10 seconds')
      ORDER BY 1, 2`,
  );
  for (const p of r.rows) {
    ctx.say(`🔁 plan ${p.idx + 1} of queued run ${p.queue_run_id}: every range completed and nobody is finishing it; finishing it here`);
    await finishPlanIfDone(ctx, Number(p.queue_run_id), p.idx);
  }
}

/**
 * Every range committed: self-references set in one second pass over the whole table (a range
 * alone cannot: its rows' parents may sit in ranges written later, elsewhere), the table
 * validated once, the plan's run recorded with what every range inserted; then the children
 * its success frees, or the run failed.
 */
async function completePlan(ctx: FinishContext, plan: PlanRow, stage: { now: string }): Promise<void> {
  const { queueRunId, idx: planIdx } = plan;
  const parts = await ctx.queue.partitions(queueRunId, planIdx);
  const body = MigrationPlan.parse((await ctx.store.getArtifact(plan.planHash))?.body);
  const analysis = await ctx.store.getAnalysis(plan.analysisHash);
  const conn = await ctx.connect();
  let passed: boolean;
  try {
    const tally = await tallyRanges(conn.target, parts);
    const migrationIds = tally.migrationIds;
    const targetTable = targetTableOf(body, analysis);
    if (viaMappingColumns(body).some((r) => isSelfReference(body, r.origin))) {
      stage.now = 'the second pass over self-references';
      await selfReferencesOnce(ctx, plan, { plan: body, sourceTable: findTable(analysis.source, body.source.table, body.source.schema), targetTable, migrationId: migrationIds[migrationIds.length - 1]!, conn });
      stage.now = 'validation';
    }
    ctx.say(`🔬 ${plan.targetTable}: every range completed (${tally.inserted} rows inserted); validating the whole table once…`);
    await refreshStatistics(conn.target, body, tally.inserted);
    // Validation reads the whole table, whatever migration id it is given; the last one names the plan's control row, all of them "this run".
    const report = await validateMigration({ migrationId: migrationIds[migrationIds.length - 1]!, runMigrationIds: migrationIds, source: conn.source, target: conn.target, targetTable });
    passed = report.status === 'passed';
    const reportHash = await ctx.store.putArtifact('validation_report', report);
    await ctx.store.finishRun(plan.storeRunId, {
      status: 'completed',
      migrationId: migrationIds[0] ?? null,
      reportHash,
      outcome: { queued: true, queueRunId, partitions: parts.length, migrationIds, inserted: tally.inserted, skipped: tally.skipped, resumed: tally.resumed, attempts: parts.map((p) => p.attempts), ranges: tally.ranges },
    });
    if (!(await settlePlan(ctx, queueRunId, planIdx, 'completed', report.status))) return;
  } finally {
    await conn.close();
  }
  if (!passed) {
    await failQueuedRun(ctx, queueRunId, null, 'VALIDATION_FAILED', `validation of ${plan.targetTable} failed (ferry runs show ${plan.storeRunId}); its children were not started`);
    return;
  }
  await startFreedChildren(ctx, queueRunId);
}

/**
 * The single run's second pass (self-references.ts), once, over every row of the table in one
 * snapshot of the source, under the table's exclusive lock: every range has released its
 * shared one, and no whole-table run can start meanwhile.
 */
async function selfReferencesOnce(ctx: FinishContext, plan: PlanRow, p: { plan: MigrationPlan; sourceTable: TableInfo | undefined; targetTable: TableInfo; migrationId: number; conn: Connections }): Promise<void> {
  const { source, target } = p.conn;
  const q = sourceQuery(p.plan, p.sourceTable);
  await lockTable(target, plan.targetTable);
  try {
    await openSnapshot(source, p.plan, q);
    let events;
    try {
      events = await resolveSelfReferences(source, target, p.plan, p.targetTable, p.migrationId, q);
    } finally {
      await source.query('ROLLBACK').catch(() => undefined);
    }
    for (const e of events) {
      // Partition -1: the plan's own step, after its ranges.
      const r = await ctx.queue.db.query<{ id: string }>('INSERT INTO ferry_queue.events (queue_run_id, plan_idx, partition_idx, attempt, event) VALUES ($1, $2, -1, 0, $3) RETURNING id', [plan.queueRunId, plan.idx, JSON.stringify(e)]);
      await ctx.store.appendEvent(plan.storeRunId, Number(r.rows[0]!.id), { ...e });
      ctx.say(`🔗 ${plan.targetTable}.${e.column}: second pass over every range set ${e.updated} reference(s)${e.orphans ? `; ${e.orphans} orphan(s) left NULL` : ''}`);
    }
  } finally {
    const problem = await unlockTable(target, plan.targetTable);
    if (problem) ctx.say(`⚠ ${problem}`);
  }
}

/** Sends the jobs of every waiting plan whose parents have all completed; completes the queued run when nothing is left. */
async function startFreedChildren(ctx: FinishContext, queueRunId: number): Promise<void> {
  const plans = await ctx.queue.plans(queueRunId);
  const done = new Set(plans.filter((p) => p.state === 'completed').map((p) => p.idx));
  for (const p of plans) {
    if (p.state === 'waiting' && p.parents.every((i) => done.has(i))) {
      const sent = await sendPlanJobs(ctx.queue, ctx.boss, queueRunId, p.idx);
      if (sent) ctx.say(`▶ ${p.targetTable}: its parents completed; ${sent} range(s) queued`);
    }
  }
  if (plans.every((p) => p.state === 'completed')) {
    await ctx.queue.db.query(`UPDATE ferry_queue.runs SET status = 'completed', finished_at = now() WHERE id = $1 AND status = 'running'`, [queueRunId]);
  }
}

/**
 * The queued run fails: its run and every plan not completed recorded failed (the run store's
 * runs too, with the reason), its waiting and queued ranges cancelled (their jobs too). Ranges
 * running now end on their own: they find the run failed when they finish.
 */
export async function failQueuedRun(ctx: FinishContext, queueRunId: number, planIdx: number | null, code: string, message: string): Promise<void> {
  const r = await ctx.queue.db.query(`UPDATE ferry_queue.runs SET status = 'failed', error_code = $2, error = $3, finished_at = now() WHERE id = $1 AND status = 'running' RETURNING id`, [
    queueRunId,
    code,
    message,
  ]);
  const cancelled = await ctx.queue.db.query<{ job_id: string | null }>(
    `UPDATE ferry_queue.partitions SET state = 'cancelled', note = $2, updated_at = now() WHERE queue_run_id = $1 AND state IN ('waiting', 'queued') RETURNING job_id`,
    [queueRunId, `not run: ${code}`],
  );
  const jobs = cancelled.rows.flatMap((x) => (x.job_id ? [x.job_id] : []));
  if (jobs.length) await ctx.boss.cancel(PARTITION_QUEUE, jobs);
  const failedPlans = await ctx.queue.db.query(
    // A plan being validated by another worker is left to it: its ranges all completed.
    `UPDATE ferry_queue.plans SET state = 'failed' WHERE queue_run_id = $1 AND state IN ('waiting', 'queued') RETURNING *`,
    [queueRunId],
  );
  for (const p of failedPlans.rows.map(toPlan)) {
    const own = p.idx === planIdx;
    await ctx.store.finishRun(p.storeRunId, {
      status: 'failed',
      errorCode: own ? code : 'QUEUED_RUN_FAILED',
      error: own ? message : `not completed: the queued run ${queueRunId} failed (${code}: ${message})`,
      outcome: { queued: true, queueRunId },
    });
  }
  if (r.rows[0]) ctx.say(`✖ queued run ${queueRunId} failed: ${code}: ${message}`);
}
