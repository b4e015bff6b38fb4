import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, runGrowingPercent, tuneHeap, userGrowingFlag } from '../../src/cli/heap.js';

/**
 * ferry's process sets V8's heap growing factor as it starts (src/cli/heap.ts): a long run's
 * batches, promoted because they outlive a scavenge, are collected before they pile up. Each
 * case runs in a process of its own: the flag is process-wide.
 */
async function child(mode: 'tuned' | 'untuned' | 'large'): Promise<{ settings: { applied: string | null } | null; peak: { heapUsed: number; heapTotal: number }; held?: number }> {
  const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'heap-child.ts'), mode], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(p, 'close')) as [number | null];
  expect(code, err).toBe(0);
  return JSON.parse(out.trim().split('\n').pop()!) as Awaited<ReturnType<typeof child>>;
}

describe('the heap of ferry’s own process', () => {
  it('is tuned unless the person’s node flags set a growing factor themselves', () => {
    expect(userGrowingFlag([], undefined)).toBeNull();
    expect(userGrowingFlag(['--max-old-space-size=4096'], '--enable-source-maps')).toBeNull();
    expect(userGrowingFlag(['--heap-growing-percent=50'], undefined)).toBe('--heap-growing-percent=50');
    expect(userGrowingFlag([], '--enable-source-maps  --heap_growing_percent=5')).toBe('--heap_growing_percent=5');
  });

  it('gives a `ferry run` of one range 2.0, fewer collections for a small live heap, and less slack per range as the ranges grow', () => {
    expect([1, 2, 3, 4, 5, 8, 32].map(runGrowingPercent)).toEqual([100, 50, 33, 25, HEAP_GROWING_PERCENT, HEAP_GROWING_PERCENT, HEAP_GROWING_PERCENT]);
    // The person's own flag still wins over a run's factor.
    expect(tuneHeap(['--heap-growing-percent=10'], undefined, runGrowingPercent(1))).toEqual({ applied: null, reason: 'the node flags given set --heap-growing-percent=10' });
  });

  it('holds a pipeline’s garbage to a fraction of what V8’s default lets pile up', async () => {
    const tuned = await child('tuned');
    const untuned = await child('untuned');
    expect(tuned.settings?.applied).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    // The same allocations, the same rows held: only the garbage waiting differs.
    expect(tuned.peak.heapUsed).toBeLessThan(0.7 * untuned.peak.heapUsed);
    expect(tuned.peak.heapTotal).toBeLessThan(0.85 * untuned.peak.heapTotal);
  });

  it('is no cap: work that holds 512 MiB still runs', async () => {
    const large = await child('large');
    expect(large.settings?.applied).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(large.held).toBe(512);
    expect(large.peak.heapUsed).toBeGreaterThan(512 * 1024 * 1024);
  });
});
