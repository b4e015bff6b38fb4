import { afterAll, expect, it, vi } from 'vitest';
import { SandboxRun } from '../../src/core/artifacts/sandbox-run.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { BatchOutcome, SandboxDriver, SandboxSession } from '../../sandbox/types.js';
import { bundleProgram, policy, removeBundles, rows, type Bundle } from './helpers.js';

export interface SuiteOptions {
  /** Checks that nothing of the run is left (containers by label; for the local driver, nothing to list). */
  leftovers(runId: string): Promise<string[]>;
  /** The program that exceeds the memory limit in a way this driver can stop. */
  oomProgram: string;
}

let counter = 0;
function runId(name: string): string {
  counter += 1;
  return `test-${name}-${process.pid}-${counter}`;
}

export async function startWith(
  driver: SandboxDriver,
  bundle: Bundle,
  name: string,
  overrides: Partial<SandboxPolicy> = {},
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void,
): Promise<{ session: SandboxSession; id: string }> {
  const id = runId(name);
  const session = await driver.start({
    runId: id,
    bundle,
    policy: policy(overrides),
    labels: { 'ferry.test': 'sandbox' },
    ...(onLog ? { onLog } : {}),
  });
  return { session, id };
}

function expectError(outcome: BatchOutcome, reason: string, key?: string): void {
  expect(outcome.status).toBe('error');
  if (outcome.status !== 'error') return;
  expect(outcome.reason).toBe(reason);
  if (key !== undefined) expect(outcome.key).toBe(key);
}

/** The cases every driver must pass. */
export function driverSuite(makeDriver: () => SandboxDriver, options: SuiteOptions): void {
  afterAll(removeBundles);

  it('transforms rows, keyed, and keeps logs apart from data', async () => {
    const driver = makeDriver();
    const bundle = await bundleProgram('upper');
    const logs: { line: string; stream: string }[] = [];
    const { session, id } = await startWith(driver, bundle, 'upper', {}, (line, stream) => logs.push({ line, stream }));

    const first = await session.transform(1, rows('plumber', 'electrician'));
    expect(first).toEqual({
      status: 'ok',
      rows: [
        { k: '1', r: { id: 1, name: 'PLUMBER' } },
        { k: '2', r: { id: 2, name: 'ELECTRICIAN' } },
      ],
    });
    // Logs arrive while the session is still open, not only at the end.
    await vi.waitFor(() => expect(logs.map((l) => l.line)).toContain('transforming 2'), { timeout: 30_000 });
    expect(logs).toContainEqual({ line: 'program starting', stream: 'stdout' });
    expect(logs).toContainEqual({ line: 'transforming 1', stream: 'stderr' });

    const second = await session.transform(2, [{ k: 'x-9', r: { id: 9, name: 'hvac' } }]);
    expect(second).toEqual({ status: 'ok', rows: [{ k: 'x-9', r: { id: 9, name: 'HVAC' } }] });

    const run = await session.close();
    expect(SandboxRun.parse(run)).toEqual(run);
    expect(run).toMatchObject({ exitReason: 'ok', exitCode: 0, batches: 2, rowsIn: 3, rowsOut: 3, message: null, runId: id });
    expect(run.bundleSha256).toBe(bundle.sha256);
    expect(run.startupMs).not.toBeNull();
    expect(run.peakMemoryBytes).toBeGreaterThan(0);
    // The line that looks like a data frame is in the log, and produced no row.
    expect(run.logTail.filter((l) => l.includes('"forged"'))).toHaveLength(3);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('ends on end() with batches still in flight: answers them first, each checked, then exits cleanly', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('upper'), 'end-early');
    const pending = [session.transform(1, rows('plumber', 'welder')), session.transform(2, [{ k: 'z-3', r: { id: 3, name: 'glazier' } }])];
    // Told while both are in the sandbox: no batch follows.
    session.end!();
    await expect(session.transform(3, rows('late'))).rejects.toMatchObject({ code: 'SANDBOX_SESSION_ENDED' });
    expect(await Promise.all(pending)).toEqual([
      { status: 'ok', rows: [{ k: '1', r: { id: 1, name: 'PLUMBER' } }, { k: '2', r: { id: 2, name: 'WELDER' } }] },
      { status: 'ok', rows: [{ k: 'z-3', r: { id: 3, name: 'GLAZIER' } }] },
    ]);
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'ok', exitCode: 0, batches: 2, rowsIn: 3, rowsOut: 3, message: null });
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('answers several batches in flight, in the order sent, each checked against its own keys', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('upper'), 'in-flight');
    const batch = (b: number, n: number) => Array.from({ length: n }, (_, i) => ({ k: `b${b}-${i}`, r: { id: b * 1000 + i, name: `role ${b}/${i} ü 😀` } }));
    // MAX_IN_FLIGHT (4) at once; a fifth while they are pending is a caller bug.
    const pending = [1, 2, 3, 4].map((b) => session.transform(b, batch(b, 300 * b)));
    await expect(session.transform(5, batch(5, 1))).rejects.toMatchObject({ code: 'SANDBOX_CONCURRENT_BATCH' });
    const outcomes = await Promise.all(pending);
    outcomes.forEach((o, i) => {
      const b = i + 1;
      expect(o.status).toBe('ok');
      if (o.status !== 'ok') return;
      expect(o.rows.map((r) => r.k)).toEqual(batch(b, 300 * b).map((r) => r.k));
      expect(o.rows[7]!.r).toEqual({ id: b * 1000 + 7, name: `ROLE ${b}/7 Ü 😀` });
    });
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'ok', batches: 4, rowsIn: 3000, rowsOut: 3000 });
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('gives every batch in flight the error of the first one that failed, and ends cleanly', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('throws'), 'in-flight-throws');
    const [first, second, third] = await Promise.all([
      session.transform(1, [{ k: 'a', r: { id: 1, name: 'fine' } }]),
      session.transform(2, [{ k: 'b', r: { id: 2, name: 'good' } }, { k: 'c', r: { id: 3, name: 'bad' } }]),
      session.transform(3, [{ k: 'd', r: { id: 4, name: 'later' } }]),
    ]);
    expect(first).toMatchObject({ status: 'ok', rows: [{ k: 'a', r: { name: 'FINE' } }] });
    expectError(second!, 'error', 'c');
    // Batch 3 was answered by the program too, but the run had already failed at batch 2.
    expect(third).toEqual(second);
    const run = await session.close();
    // The program stayed healthy: it answered batch 3 and "end" with "done" (no protocol error after the error).
    expect(run).toMatchObject({ exitReason: 'error', exitCode: 0, batches: 1, rowsOut: 1 });
    expect(run.message).toMatch(/key "c"/);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('reports a row whose transform threw as an error naming its key', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('throws'), 'throws');
    const outcome = await session.transform(1, rows('good', 'bad', 'fine'));
    expectError(outcome, 'error', '2');
    if (outcome.status === 'error') expect(outcome.message).toMatch(/TypeError: cannot map role bad/);
    // The session is finished: later batches get the same answer.
    expect(await session.transform(2, rows('again'))).toEqual(outcome);
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'error', batches: 0, rowsOut: 0 });
    expect(run.message).toMatch(/key "2"/);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it.each([
    ['extra', 'smuggled', /not sent/],
    ['duplicate', '1', /answered twice/],
    ['missing', '3', /not answered/],
    ['garbage', undefined, /not JSON/],
    ['short-body', undefined, /announces 4 rows; its body holds 3 rows/],
    ['short-row', '1', /0 values for 1 columns/],
  ])('turns a %s reply into a protocol_error', async (mode, key, message) => {
    const driver = makeDriver();
    const bundle = await bundleProgram('forge', { __MODE__: JSON.stringify(mode) });
    const { session, id } = await startWith(driver, bundle, `forge-${mode}`);
    const outcome = await session.transform(1, rows('a', 'b', 'c'));
    expectError(outcome, 'protocol_error', key);
    if (outcome.status === 'error') expect(outcome.message).toMatch(message);
    const run = await session.close();
    expect(run.exitReason).toBe('protocol_error');
    expect(run.rowsOut).toBe(0);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('stops a program that runs past its timeout', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('busy'), 'busy', { timeoutMs: 4_000 });
    expectError(await session.transform(1, rows('loop')), 'timeout');
    const run = await session.close();
    expect(run.exitReason).toBe('timeout');
    expect(run.message).toMatch(/within 4000 ms/);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('counts the timeout only while the program owes an answer: a run longer than it, waiting on ferry between batches, completes', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('upper'), 'patient', { timeoutMs: 1_500 });
    // ferry busy on its own side (a slow target) for longer than the timeout, twice.
    for (const b of [1, 2, 3]) {
      expect(await session.transform(b, [{ k: `k${b}`, r: { id: b, name: `crew ${b}` } }])).toEqual({ status: 'ok', rows: [{ k: `k${b}`, r: { id: b, name: `CREW ${b}` } }] });
      if (b < 3) await new Promise((r) => setTimeout(r, 2_200));
    }
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'ok', batches: 3 });
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('reports a program that runs out of memory as oom', async () => {
    const driver = makeDriver();
    const memory = 96 * 1024 * 1024;
    const { session, id } = await startWith(driver, await bundleProgram(options.oomProgram), 'oom', {
      memoryBytes: memory,
      memorySwapBytes: memory,
    });
    expectError(await session.transform(1, rows('grow')), 'oom');
    const run = await session.close();
    expect(run.exitReason).toBe('oom');
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('reports a program that fails before it is ready', async () => {
    const driver = makeDriver();
    const { session, id } = await startWith(driver, await bundleProgram('crash'), 'crash');
    const outcome = await session.transform(1, rows('never'));
    expectError(outcome, 'error');
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'error', exitCode: 1, startupMs: null, batches: 0 });
    expect(run.message).toMatch(/boom at load/);
    expect(run.logTail.join('\n')).toMatch(/boom at load/);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('streams many batches through a small memory limit and caps the kept log', async () => {
    const driver = makeDriver();
    const memory = 128 * 1024 * 1024;
    let logLines = 0;
    const { session, id } = await startWith(
      driver,
      await bundleProgram('chatty'),
      'chatty',
      { memoryBytes: memory, memorySwapBytes: memory, logTailBytes: 4096 },
      (line: string) => {
        // The harness adds a line per batch; count the program's own lines.
        if (line.startsWith('row ')) logLines += 1;
      },
    );
    const batchSize = 1000;
    for (let b = 0; b < 40; b++) {
      const input = Array.from({ length: batchSize }, (_, i) => ({ k: `${b}-${i}`, r: { id: b * batchSize + i, name: `role ${i}` } }));
      const outcome = await session.transform(b, input);
      expect(outcome.status).toBe('ok');
      if (outcome.status === 'ok') {
        expect(outcome.rows).toHaveLength(batchSize);
        expect(outcome.rows[7]).toEqual({ k: `${b}-7`, r: { id: b * batchSize + 7, name: 'ROLE 7', padding: 'p'.repeat(100) } });
      }
    }
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'ok', batches: 40, rowsIn: 40_000, rowsOut: 40_000 });
    // Every line reached onLog; the record keeps only the newest 4 KB, marked.
    expect(logLines).toBe(800);
    expect(run.logTail[0]).toMatch(/^\[ferry: \d+ earlier log lines \(\d+ bytes\) dropped; record keeps 4096 bytes\]$/);
    expect(run.logTail.filter((l) => l.startsWith('row ')).at(-1)).toMatch(/^row 40000: x+$/);
    expect(run.logTail.at(-1)).toBe('ferry harness: batch 39: 1000 rows transformed');
    expect(run.logTail.slice(1).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0)).toBeLessThanOrEqual(4096);
    expect(await options.leftovers(id)).toEqual([]);
  });

  it('cleans up when a session is disposed without close()', async () => {
    const driver = makeDriver();
    let id = '';
    {
      await using started = await startWith(driver, await bundleProgram('upper'), 'dispose').then((s) => {
        id = s.id;
        return s.session;
      });
      expect((await started.transform(1, rows('one'))).status).toBe('ok');
    }
    expect(await options.leftovers(id)).toEqual([]);
  });
}
