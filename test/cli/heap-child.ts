/**
 * A process shaped like a run's pipeline, for test/cli/heap.test.ts: batches of source rows,
 * their JSON frame, the decoded reply and its COPY lines, each batch held while the next
 * three are made (as the pipeline holds them), then dropped. Prints the heap's peaks as JSON.
 *
 *   node --import tsx test/cli/heap-child.ts tuned|untuned|large
 */
import { tuneHeap } from '../../src/cli/heap.js';

const mode = process.argv[2];
const settings = mode === 'untuned' ? null : tuneHeap([], undefined);
const peak = { heapUsed: 0, heapTotal: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
};

if (mode === 'large') {
  // Work that legitimately holds a lot (a wide table's analysis): 512 MiB live, far above any
  // run's heap, must grow as before: the tuning is no cap.
  const held: number[][] = [];
  for (let i = 0; i < 512; i++) held.push(new Array<number>(128 * 1024).fill(i + 0.5));
  sample();
  process.stdout.write(`${JSON.stringify({ settings, peak, held: held.length })}\n`);
} else {
  const BATCH = 6_000;
  const held: unknown[] = [];
  for (let b = 0; b < 60; b++) {
    const rows = Array.from({ length: BATCH }, (_, i) => ({ staff_no: `S-${b}-${i}`, badge: `badge ${i % 97}`, crew: (i % 13) + 1, hired_on: '2019-03-0' + (i % 9), note: i % 7 ? null : 'needs a look' }));
    const body = JSON.stringify(rows.map((r) => [r.staff_no, r.badge, r.crew, r.hired_on, r.note]));
    const back = (JSON.parse(body) as unknown[][]).map((t) => ({ k: t[0] as string, r: { label: t[1], crew_id: t[2], started: t[3] } }));
    const lines = back.map((r) => `${r.k}\t${String(r.r.label)}\t${String(r.r.crew_id)}\t${String(r.r.started)}\n`);
    held.push({ rows, back, lines });
    if (held.length > 4) held.shift();
    await new Promise((resolve) => setImmediate(resolve));
    sample();
  }
  process.stdout.write(`${JSON.stringify({ settings, peak })}\n`);
}
