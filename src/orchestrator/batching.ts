import type { Queryable } from '../core/sql.js';
import type { InputRow } from '../../sandbox/types.js';

/**
 * How many rows go in a batch. A batch is what the sandbox holds at once, one frame on the
 * stream and one transaction, so it is sized in bytes, not rows: narrow rows go tens of
 * thousands at a time (few commits, few round trips), a table of 1 MB documents goes a few
 * rows at a time (flat memory whatever the row count). The plan's batchSize is the upper bound.
 */
export const BATCH_TARGET_BYTES = 4 * 1024 * 1024;
/** The first batch when nothing is known of the width. */
const FIRST_BATCH_ROWS = 100;
const SAMPLE_ROWS = 16;

export class BatchSizer {
  private avgBytes: number | null = null;

  /** `estimatedRowBytes`: a first guess (from a sample of the source) so the first batch is sized too. */
  constructor(
    private readonly maxRows: number,
    estimatedRowBytes: number | null = null,
    private readonly targetBytes = BATCH_TARGET_BYTES,
  ) {
    if (estimatedRowBytes !== null && estimatedRowBytes > 0) this.avgBytes = 2 * estimatedRowBytes;
  }

  /** Rows to fetch next. */
  next(): number {
    if (this.avgBytes === null) return Math.min(this.maxRows, FIRST_BATCH_ROWS);
    return Math.max(1, Math.min(this.maxRows, Math.floor(this.targetBytes / this.avgBytes)));
  }

  /** Learns the width from a few rows spread over a fetched batch (JSON, as they travel). */
  observe(rows: readonly InputRow[]): void {
    if (rows.length === 0) return;
    const step = Math.max(1, Math.floor(rows.length / SAMPLE_ROWS));
    let bytes = 0;
    let n = 0;
    for (let i = 0; i < rows.length; i += step) {
      bytes += JSON.stringify(rows[i]).length;
      n += 1;
    }
    // Input and output both sit in the sandbox and the orchestrator; 2× covers the reply.
    const width = (2 * bytes) / n;
    this.avgBytes = this.avgBytes === null ? width : 0.5 * this.avgBytes + 0.5 * width;
  }
}

/** A key range of the source: lo < key ≤ hi, either end open when null. */
export interface KeyRange {
  lo: string | null;
  hi: string | null;
}

/**
 * Splits the rows under the filter into `n` key ranges of about equal row counts, read in
 * the run's snapshot: cut points are key percentiles, so skewed or sparse keys split evenly.
 */
export async function keyRanges(db: Queryable, n: number, keySql: string, from: string, params: unknown[]): Promise<KeyRange[]> {
  if (n <= 1) return [{ lo: null, hi: null }];
  const fractions = Array.from({ length: n - 1 }, (_, i) => (i + 1) / n);
  const r = await db.query<{ cuts: Array<string | null> | null }>(
    `SELECT (percentile_disc($${params.length + 1}::float8[]) WITHIN GROUP (ORDER BY ${keySql}))::text[] AS cuts FROM ${from}`,
    [...params, fractions],
  );
  const raw = (r.rows[0]?.cuts ?? []).filter((c): c is string => c !== null);
  // With fewer distinct keys than workers the same cut repeats; a repeated cut would be an empty range.
  const cuts = raw.filter((c, i) => i === 0 || c !== raw[i - 1]);
  const ranges: KeyRange[] = [];
  let lo: string | null = null;
  for (const c of cuts) {
    ranges.push({ lo, hi: c });
    lo = c;
  }
  ranges.push({ lo, hi: null });
  return ranges;
}

/**
 * Bytes per row as JSON, from the first rows in key order: a first guess for BatchSizer, so
 * not even the first batch of a table of wide rows is fetched a few hundred at a time.
 */
export async function sampleRowBytes(db: Queryable, cols: string, from: string, key: string, params: unknown[]): Promise<number | null> {
  const r = await db.query<{ b: string | null }>(`SELECT avg(octet_length(row_to_json(s)::text)) AS b FROM (SELECT ${cols} FROM ${from} ORDER BY ${key} LIMIT 64) s`, params);
  const b = Number(r.rows[0]?.b ?? NaN);
  return Number.isFinite(b) && b > 0 ? b : null;
}
