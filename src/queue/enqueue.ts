/**
 * `ferry run --queue`: a plan (or a plan set) becomes jobs, one per key range of each plan.
 * Everything a worker on another host needs is put where it can read it: the plan, its
 * analysis and the exact bundle in the run store, the ranges and the order in ferry_queue,
 * the jobs in pg-boss. A child plan's jobs are sent only when its parents complete
 * (finish-plan.ts), so no worker can claim a child before its parents' mappings exist.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type PgBoss from 'pg-boss';
import type pg from 'pg';
import type { PreparedProgram } from '../chain.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { analysisHash, type SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { assertParentsMigrated, parentMigrations } from '../core/plan/references.js';
import { planTables } from '../control/control-tables.js';
import { keyRanges, type KeyRange } from '../orchestrator/batching.js';
import { sourceKeyType } from '../orchestrator/partitions.js';
import { openSnapshot, sourceQuery } from '../orchestrator/prepare.js';
import type { RunStore } from '../store/run-store.js';
import { PARTITION_QUEUE, type PartitionJob } from './boss.js';
import type { QueueDb } from './queue-db.js';

export interface QueuedPlan {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  program: PreparedProgram;
}

export interface EnqueueInput {
  plans: QueuedPlan[];
  store: RunStore;
  queue: QueueDb;
  boss: PgBoss;
  source: pg.Client;
  target: pg.Client;
  /** Key ranges per plan (1 to 64). */
  partitions: number;
  startedBy: string;
}

export interface Enqueued {
  queueRunId: number;
  /** Per plan, in the set's order: its run-store run and its ranges. */
  plans: Array<{ plan: MigrationPlan; storeRunId: number; ranges: KeyRange[]; parents: number[] }>;
}

/** A plan's parents within the set, by index: the plans whose table pair it resolves references through. */
export function parentsInSet(plans: readonly MigrationPlan[], i: number): number[] {
  const pairs = new Set(parentMigrations(plans[i]!).map((p) => `${p.sourceTable}→${p.targetTable}`));
  return plans.flatMap((p, j) => {
    const t = planTables(p);
    return j !== i && pairs.has(`${t.sourceTable}→${t.targetTable}`) ? [j] : [];
  });
}

/**
 * Checks every plan before anything is queued (approved as stored, parents
 * outside the set migrated, a usable key), records the runs, and sends the jobs of the plans
 * that wait for no other plan of the set.
 */
export async function enqueueRun(input: EnqueueInput): Promise<Enqueued> {
  const all = input.plans.map((p) => p.plan);
  const shaped: Enqueued['plans'] = [];
  for (const [i, p] of input.plans.entries()) {
    await input.store.approvedHash(p.plan);
    const parents = parentsInSet(all, i);
    if (parents.length === 0) await assertParentsMigrated(input.target, p.plan);
    shaped.push({ plan: p.plan, storeRunId: 0, ranges: await rangesOf(input.source, p.plan, input.partitions), parents });
  }
  const q = await input.queue.db.query<{ id: string }>(`INSERT INTO ferry_queue.runs (started_by, status) VALUES ($1, 'running') RETURNING id`, [input.startedBy]);
  const queueRunId = Number(q.rows[0]!.id);
  for (const [i, p] of input.plans.entries()) {
    const { run } = await input.store.createRun({ plan: p.plan, mode: 'run', startedBy: input.startedBy, owner: `queue:${queueRunId}` });
    await input.store.putArtifact('schema_analysis', p.analysis, analysisHash(p.analysis));
    const { bundleSha256 } = await input.store.attachProgram(run.id, { script: p.program.script, bundleBytes: await readFile(p.program.bundle.path) });
    const s = shaped[i]!;
    s.storeRunId = run.id;
    await input.queue.db.query(
      `INSERT INTO ferry_queue.plans (queue_run_id, idx, store_run_id, plan_id, plan_hash, analysis_hash, bundle_sha256, target_table, parents, key_type, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [queueRunId, i, run.id, p.plan.id, run.planHash, analysisHash(p.analysis), bundleSha256, planTables(p.plan).targetTable, s.parents, sourceKeyType(p.plan, p.analysis), s.parents.length ? 'waiting' : 'queued'],
    );
    for (const [k, range] of s.ranges.entries()) {
      await input.queue.db.query(
        `INSERT INTO ferry_queue.partitions (queue_run_id, plan_idx, idx, count, lo, hi, state) VALUES ($1, $2, $3, $4, $5, $6, 'waiting')`,
        [queueRunId, i, k, s.ranges.length, range.lo, range.hi],
      );
    }
  }
  for (const [i, s] of shaped.entries()) if (s.parents.length === 0) await sendPlanJobs(input.queue, input.boss, queueRunId, i);
  return { queueRunId, plans: shaped };
}

/**
 * The plan's key ranges, cut in one snapshot of the source after the key is checked over the
 * whole filter (a NULL key would fall in no range; a duplicate would need two mappings).
 */
async function rangesOf(source: pg.Client, plan: MigrationPlan, n: number): Promise<KeyRange[]> {
  const q = sourceQuery(plan);
  await openSnapshot(source, plan, q);
  try {
    return await keyRanges(source, n, q.key, q.from, q.where.params);
  } finally {
    await source.query('COMMIT');
  }
}

/** Marks the plan's waiting partitions queued and sends one job each; a job id is minted here so the row names it from the start. */
export async function sendPlanJobs(queue: QueueDb, boss: PgBoss, queueRunId: number, planIdx: number): Promise<number> {
  const r = await queue.db.query<{ idx: number }>(
    `UPDATE ferry_queue.partitions SET state = 'queued', updated_at = now() WHERE queue_run_id = $1 AND plan_idx = $2 AND state = 'waiting' RETURNING idx`,
    [queueRunId, planIdx],
  );
  await queue.db.query(`UPDATE ferry_queue.plans SET state = 'queued' WHERE queue_run_id = $1 AND idx = $2 AND state = 'waiting'`, [queueRunId, planIdx]);
  for (const { idx } of r.rows.sort((a, b) => a.idx - b.idx)) {
    const id = randomUUID();
    await queue.db.query('UPDATE ferry_queue.partitions SET job_id = $4 WHERE queue_run_id = $1 AND plan_idx = $2 AND idx = $3', [queueRunId, planIdx, idx, id]);
    const job: PartitionJob = { queueRunId, planIdx, partitionIdx: idx };
    await boss.send(PARTITION_QUEUE, job, { id });
  }
  return r.rows.length;
}
