import { setFlagsFromString } from 'node:v8';

/**
 * ferry's own heap, set as the process starts (src/cli/main.ts, and the bench's ferry process
 * through the same call), so a long `ferry run`, `ferry serve` or `ferry worker` stays small.
 *
 * A run's batches live a few batch-times each (fetched, in the sandbox, checked, written), so
 * their objects outlive a scavenge and are promoted; V8's default lets the old generation grow
 * by up to 4× the live size before it collects, and most of a 1M-row run's peak was garbage
 * waiting (258 MiB RSS, 165 MiB of heap used for ~20 MiB of live batches). A growing factor of
 * 1.2 collects it sooner: the heap stays near what is live, and spends no more CPU (measured:
 * bench/bulk.ts, the README's memory row).
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

/** Sets the heap's growing factor for this process unless the person's node flags set one. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): HeapSettings {
  const own = userGrowingFlag(execArgv, nodeOptions);
  if (own !== null) return { applied: null, reason: `the node flags given set ${own}` };
  const flag = `${FLAG}=${HEAP_GROWING_PERCENT}`;
  setFlagsFromString(flag);
  return { applied: flag, reason: null };
}
