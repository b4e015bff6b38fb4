import { setFlagsFromString } from 'node:v8';

/**
 * ferry's own heap, set as the process starts (src/cli/main.ts, and the bench's ferry process
 * through the same call), so a long `ferry run`, `ferry serve` or `ferry worker` stays small.
 *
 * A run's batches live a few batch-times each (fetched, in the sandbox, checked, written), so
 * their objects outlive a scavenge and are promoted; V8's default lets the old generation grow
 * by up to 4× the live size before it collects, and most of a 1M-row run's peak was garbage
 * waiting (258 MiB RSS, 165 MiB of heap used for ~20 MiB of live batches). A growing factor of
 * 1.2 collects it sooner: the heap stays near what is live (measured: bench/bulk.ts, the
 * README's memory row). A `ferry run`, whose ranges are known, then sets its own factor
 * (runGrowingPercent): more slack, fewer collections, where the live heap is small.
 *
 * Not a cap: the heap's limit stays Node's (about 4 GiB on 64-bit), so a wide table's analysis
 * or a validation of millions of rows grows as before, collected more often on the way. The
 * semi-space and old-space sizes cannot be changed once V8 has started (checked); this factor
 * is read at each collection, so it takes effect without a second Node start. Node flags the
 * person gave (NODE_OPTIONS or the command line) win: a growing factor set there is left alone.
 */
export const HEAP_GROWING_PERCENT = 20;
const FLAG = '--heap-growing-percent';

export interface HeapSettings {
  /** The flag set, or null when the person's own node flags set it. */
  applied: string | null;
  /** Why nothing was set, when nothing was. */
  reason: string | null;
}

/** The growing factor the person's node flags set, if any (`--heap-growing-percent=N` or `--heap_growing_percent N`). */
export function userGrowingFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | null {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return given.find((a) => a.replace(/_/g, '-').startsWith(FLAG)) ?? null;
}

/**
 * The growing factor for a `ferry run` process of `parallel` key ranges: 100 (2.0) for one
 * range, 100 ÷ ranges for more, never below HEAP_GROWING_PERCENT. The garbage V8 lets wait is
 * about the factor's excess over 1 times what is live, and what is live grows with the ranges'
 * batches in flight: one range holds ~20 MiB, so 2.0 lets ~20 MiB more wait and saves about a
 * fifth of the run's CPU (fewer collections; measured at 1M rows: orchestrator CPU 15.6 →
 * 12.5 s, RSS peak 142 → 157 MiB); at 2 ranges 2.0 would put the peak at 193 MiB, so 1.5.
 * `ferry serve` and `ferry worker` (many runs in one process) keep HEAP_GROWING_PERCENT.
 */
export function runGrowingPercent(parallel: number): number {
  return Math.max(HEAP_GROWING_PERCENT, Math.round(100 / Math.max(1, Math.floor(parallel))));
}

/** Sets the heap's growing factor (`percent`, default HEAP_GROWING_PERCENT) for this process unless the person's node flags set one. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS, percent: number = HEAP_GROWING_PERCENT): HeapSettings {
  const own = userGrowingFlag(execArgv, nodeOptions);
  if (own !== null) return { applied: null, reason: `the node flags given set ${own}` };
  const flag = `${FLAG}=${percent}`;
  setFlagsFromString(flag);
  return { applied: flag, reason: null };
}
