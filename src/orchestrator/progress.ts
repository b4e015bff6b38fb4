/**
 * Rows, rows/s and time left, for a person watching a long run. The rate is over the last
 * few batches (a moving window), so a slow start (image, first connection) does not skew
 * the estimate for the rest of the run.
 */
export interface ProgressFigures {
  /** Rows written (or, in a dry run, checked) so far in this run. */
  done: number;
  /** Rows this run set out to migrate. */
  total: number;
  rowsPerSec: number;
  /** Seconds left at the current rate; null before any rate is known. */
  etaSeconds: number | null;
  elapsedMs: number;
}

const WINDOW = 8;

export class Progress {
  private readonly started = Date.now();
  private readonly samples: Array<{ at: number; done: number }> = [];
  private done = 0;

  constructor(private readonly total: number) {}

  add(rows: number): ProgressFigures {
    this.done += rows;
    const now = Date.now();
    this.samples.push({ at: now, done: this.done });
    if (this.samples.length > WINDOW) this.samples.shift();
    const first = this.samples.length > 1 ? this.samples[0]! : { at: this.started, done: 0 };
    const seconds = (now - first.at) / 1000;
    const rowsPerSec = seconds > 0 ? (this.done - first.done) / seconds : 0;
    const left = Math.max(0, this.total - this.done);
    return {
      done: this.done,
      total: this.total,
      rowsPerSec: Math.round(rowsPerSec),
      etaSeconds: rowsPerSec > 0 ? Math.round(left / rowsPerSec) : null,
      elapsedMs: now - this.started,
    };
  }
}

/**
 * 1234567 → "1,234,567", as toLocaleString('en-US') writes whole numbers, without its first
 * call's cost: that loads ICU's number formatting (30–200 ms of CPU) in the middle of a run.
 */
export function groupThousands(x: number): string {
  if (!Number.isSafeInteger(x)) return x.toLocaleString('en-US');
  const digits = String(Math.abs(x)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return x < 0 ? `-${digits}` : digits;
}

/** "412,000/1,000,000 rows · 98,200 rows/s · ETA 6s" */
export function formatProgress(p: ProgressFigures): string {
  const n = groupThousands;
  const pct = p.total > 0 ? ` (${Math.floor((100 * p.done) / p.total)}%)` : '';
  const eta = p.etaSeconds === null ? '' : ` · ETA ${p.etaSeconds >= 120 ? `${Math.round(p.etaSeconds / 60)}m` : `${p.etaSeconds}s`}`;
  return `${n(p.done)}/${n(p.total)} rows${pct} · ${n(p.rowsPerSec)} rows/s${eta}`;
}
