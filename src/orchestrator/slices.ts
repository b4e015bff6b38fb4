/**
 * A batch's synchronous work (its rows checked, its COPY text built) in slices, the event loop
 * turning between them. That work for batch N+1 runs while batch N's COPY goes to the target,
 * and that COPY is fed from this same event loop, 256 KB at a time (copy.ts): one block of
 * 20–100 ms left the target backend idle once the socket's buffer ran dry. A slice is a few ms.
 */
export const SLICE_ROWS = 1000;

/** The event loop's next turn (its I/O first: a COPY waiting to be fed is fed). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
