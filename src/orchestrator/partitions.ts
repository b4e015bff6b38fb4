/**
 * The run's partitions: one worker on the run's own connections, or key ranges side by side,
 * each with its own connections, sandbox and cursor, all reading the snapshot the run exported.
 */
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { filterSessionSql } from '../core/plan/filter-sql.js';
import { findTable, type SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { keyRanges, type KeyRange } from './batching.js';
import { runWorker, type WorkerOut } from './pipeline.js';
import type { SourceQuery } from './prepare.js';
import type { Shared } from './run-types.js';

export type WorkerOutcome = PromiseSettledResult<WorkerOut>;

/** Runs every partition to its end (or its failure) and returns each worker's outcome, in key order. */
export async function runPartitions(sh: Shared, q: SourceQuery, parallel: number): Promise<WorkerOutcome[]> {
  const { source, target } = sh.input;
  if (parallel === 1) {
    await source.query(`DECLARE ferry_source NO SCROLL CURSOR FOR SELECT ${q.cols} FROM ${q.from} ORDER BY ${q.key}`, q.where.params);
    return Promise.allSettled([runWorker(sh, 0, source, target)]);
  }
  // Every worker reads the snapshot this transaction exported: one consistent source.
  const snapshot = (await source.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
  const keyType = sourceKeyType(sh.input.plan, sh.input.analysis);
  const ranges = await keyRanges(source, parallel, q.key, q.from, q.where.params);
  return Promise.allSettled(ranges.map((range, w) => runPartition(sh, q, { snapshot, keyType, range, worker: w })));
}

interface Partition {
  snapshot: string;
  keyType: string;
  range: KeyRange;
  worker: number;
}

/** One key range on connections of its own; a failure stops the other workers after their batch in flight. */
async function runPartition(sh: Shared, q: SourceQuery, p: Partition): Promise<WorkerOut> {
  const conn = await sh.input.connect!();
  try {
    await conn.source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await conn.source.query(`SET TRANSACTION SNAPSHOT '${p.snapshot.replace(/'/g, "''")}'`);
    const settings = filterSessionSql(sh.input.plan.source.filters);
    if (settings) await conn.source.query(settings);
    const r = rangeWhere(q.where.sql, q.where.params, q.key, p.keyType, p.range);
    await conn.source.query(`DECLARE ferry_source NO SCROLL CURSOR FOR SELECT ${q.cols} FROM ${q.table} ${r.sql} ORDER BY ${q.key}`, r.params);
    const out = await runWorker(sh, p.worker, conn.source, conn.target);
    await conn.source.query('COMMIT');
    return out;
  } catch (e) {
    sh.stop = true;
    throw e;
  } finally {
    await conn.close().catch((e: unknown) => sh.warn('WORKER_CONNECTIONS_CLOSE_FAILED', `worker ${p.worker}'s connections could not be closed: ${(e as Error)?.message ?? String(e)}`, e));
  }
}

/** The source key column's type as the analysis has it (text when unknown), for range casts. */
export function sourceKeyType(plan: MigrationPlan, analysis: SchemaAnalysis): string {
  return findTable(analysis.source, plan.source.table, plan.source.schema)?.columns.find((c) => c.name === plan.source.key)?.pgType ?? 'text';
}

/** The plan's filter plus one worker's key range, numbered after the filter's parameters. */
export function rangeWhere(filterSql: string, params: unknown[], key: string, keyType: string, range: KeyRange): { sql: string; params: unknown[] } {
  const parts = filterSql ? [`(${filterSql.replace(/^WHERE /, '')})`] : [];
  const all = [...params];
  if (range.lo !== null) {
    all.push(range.lo);
    parts.push(`${key} > $${all.length}::${keyType}`);
  }
  if (range.hi !== null) {
    all.push(range.hi);
    parts.push(`${key} <= $${all.length}::${keyType}`);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params: all };
}
