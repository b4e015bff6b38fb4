/**
 * What a queued plan inserted, range by range, counted where it is true: the mappings in the
 * target. A range's attempts each write under their own migration id (a retry resumes after
 * the committed batches of the attempt before, whose rows stay under that attempt's id), and
 * a killed attempt never reports its count; so counters kept beside the jobs undercount, while
 * the mappings of all the range's migration ids are exactly the rows this run inserted there.
 */
import type { Queryable } from '../core/sql.js';
import type { PartitionRow } from './queue-db.js';

export interface RangeTally {
  /** 0-based; shown 1-based as "range i/count". */
  idx: number;
  count: number;
  lo: string | null;
  hi: string | null;
  state: string;
  attempts: number;
  migrationIds: number[];
  /** Source rows in the range (under the plan's filter), as its last attempt counted them. */
  sourceRows: number | null;
  /** Rows this run inserted in the range, over all its attempts. */
  inserted: number;
  /** Of those, rows committed by attempts that died or stopped, kept and skipped by the next. */
  resumed: number;
  /** Source rows of the range that were migrated before this run (not by it). */
  skipped: number;
}

export interface PlanTally {
  inserted: number;
  resumed: number;
  skipped: number;
  migrationIds: number[];
  ranges: RangeTally[];
}

/** Mappings per migration id, for every id of the given ranges. */
async function mappingsPerMigration(target: Queryable, ids: readonly number[]): Promise<Map<number, number>> {
  if (ids.length === 0) return new Map();
  const r = await target.query<{ id: string; n: string }>(
    'SELECT migration_id AS id, count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = ANY($1::bigint[]) GROUP BY 1',
    [[...ids]],
  );
  return new Map(r.rows.map((x) => [Number(x.id), Number(x.n)]));
}

export async function tallyRanges(target: Queryable, parts: readonly PartitionRow[]): Promise<PlanTally> {
  const ids = parts.flatMap((p) => p.migrationIds);
  const mapped = await mappingsPerMigration(target, ids);
  const ranges = parts.map((p): RangeTally => {
    const per = p.migrationIds.map((id) => mapped.get(id) ?? 0);
    const inserted = per.reduce((a, b) => a + b, 0);
    const resumed = per.slice(0, -1).reduce((a, b) => a + b, 0);
    return {
      idx: p.idx,
      count: p.count,
      lo: p.range.lo,
      hi: p.range.hi,
      state: p.state,
      attempts: p.attempts,
      migrationIds: p.migrationIds,
      sourceRows: p.toMigrate,
      inserted,
      resumed,
      skipped: p.toMigrate === null ? 0 : Math.max(0, p.toMigrate - inserted),
    };
  });
  const sum = (k: 'inserted' | 'resumed' | 'skipped') => ranges.reduce((n, r) => n + r[k], 0);
  return { inserted: sum('inserted'), resumed: sum('resumed'), skipped: sum('skipped'), migrationIds: [...ids].sort((a, b) => a - b), ranges };
}

export function rangeText(r: Pick<RangeTally, 'lo' | 'hi'>): string {
  return `${r.lo ?? '−∞'} < key ≤ ${r.hi ?? '+∞'}`;
}

/** The plan's totals and one line per range, as `ferry run --queue` and `ferry runs show` print them. */
export function tallyLines(t: PlanTally): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  return [
    `   ${n(t.inserted)} inserted by this run over ${t.ranges.length} range(s) (${n(t.resumed)} of them resumed from attempts that did not finish), ${n(t.skipped)} migrated before it; migrations ${t.migrationIds.join(', ')}`,
    ...t.ranges.map(
      (r) =>
        `     range ${r.idx + 1}/${r.count} (${rangeText(r)}): ${n(r.inserted)} inserted${r.resumed ? ` (${n(r.resumed)} resumed)` : ''}, ${n(r.skipped)} already migrated, ${r.attempts} attempt(s), migration ${r.migrationIds.join(', ')}`,
    ),
  ];
}
