import type { RunRow } from '../store/run-store.js';

/** `queue`: a queued run's ranges and workers as they are now (never published by the hub; read from ferry_queue). */
export type LiveMessage = { kind: 'event'; seq: number; event: unknown } | { kind: 'queue'; view: unknown } | { kind: 'end'; run: RunRow };

/** Runs executing in this process, and who is listening to them. */
export class RunHub {
  private readonly live = new Map<number, Set<(m: LiveMessage) => void>>();
  readonly running = new Set<Promise<unknown>>();

  open(runId: number): void {
    if (!this.live.has(runId)) this.live.set(runId, new Set());
  }
  isLive(runId: number): boolean {
    return this.live.has(runId);
  }
  publish(runId: number, m: LiveMessage): void {
    for (const l of this.live.get(runId) ?? []) l(m);
    if (m.kind === 'end') this.live.delete(runId);
  }
  subscribe(runId: number, fn: (m: LiveMessage) => void): () => void {
    const set = this.live.get(runId);
    if (!set) return () => {};
    set.add(fn);
    return () => set.delete(fn);
  }
  /** Keeps `p` until it settles so `close()` can wait for it; its failure is the caller's to log. */
  track<T>(p: Promise<T>): void {
    const tracked = p.catch(() => undefined);
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }
}
