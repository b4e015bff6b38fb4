/**
 * One ferry run for `npm run bench`, in a process of its own, so that the memory the bench
 * prints is ferry's (the orchestrator: runMigration, its pg clients, the sandbox session)
 * and not the bench's (the seeding, the reference, the pgloader peer, the validation).
 *
 *   node --import tsx bench/ferry-run.ts <spec.json>
 *
 * spec: { sourceUrl, targetUrl, planPath, analysisPath, bundle: { path, sha256 }, parallel, rows, label }.
 * Progress lines go to stdout as they come; the last line is `FERRY_RESULT <json>`.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { MigrationPlan } from '../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../src/core/artifacts/schema-analysis.js';
import type { Connections } from '../src/chain.js';
import { connect } from '../src/db/connect.js';
import { assertSessionConnection } from '../src/target/pooler.js';
import { DEFAULT_TRANSACTION_TIMEOUTS, useTransactionTimeouts } from '../src/target/timeouts.js';
import { runMigration, type RunEvent } from '../src/orchestrator/run-migration.js';
import { runGrowingPercent, tuneHeap, type HeapSettings } from '../src/cli/heap.js';
import { DockerDriver } from '../sandbox/docker-driver.js';
import { defaultPolicy } from '../sandbox/policy.js';
import type { SandboxDriver, SandboxSession, SandboxStartOptions } from '../sandbox/types.js';

export interface RunSpec {
  sourceUrl: string;
  targetUrl: string;
  planPath: string;
  analysisPath: string;
  bundle: { path: string; sha256: string };
  parallel: number;
  rows: number;
  label: string;
  /** The sandbox's whole-session limit (the default policy's otherwise). */
  sandboxTimeoutMs?: number;
}

export interface RunFigures {
  ms: number;
  status: string;
  error: string | null;
  inserted: number;
  migrationId: number;
  peakMemoryBytes: number | null;
  sandboxes: number;
  startMs: number;
  /** Wall time during which at least one batch was in the sandbox. */
  sandboxBusyMs: number;
  extraConnections: number;
  /** This process's resident memory when the run started, and its peak (the kernel's VmHWM) at the end. */
  rssBefore: number;
  rssPeak: number;
  cpu: { orchestrator: number; source: number | null; target: number | null };
  /** Batches committed. */
  batches: number;
  /** Wall time during which a query (or COPY) was outstanding on the main target connection. */
  targetBusyMs: number;
  /**
   * The scheduler's view over the run (/proc/<pid>/schedstat; null without it): seconds on a
   * CPU and seconds runnable but waiting for one, of the target backend and of this process's
   * main thread. Waiting means the machine's CPUs were all taken, not that it had nothing to do.
   */
  sched: { target: { onCpu: number; waiting: number } | null; main: { onCpu: number; waiting: number } | null };
  /** Peaks of process.memoryUsage() sampled every 100 ms: V8 heap used, external memory (Buffers), array buffers. */
  memory: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  /** What src/cli/main.ts set for this process (the same call), and the node flags it was started with. */
  heap: HeapSettings & { execArgv: string[] };
}

// As `ferry` does first thing (src/cli/main.ts); `ferry run` then sets its run's own factor (below).
tuneHeap();

/** Wall time some query was outstanding on `client` (queries overlap only when queued, so count the union). */
function timeBusy(client: pg.Client): { ms: () => number } {
  let busy = 0;
  let pending = 0;
  let since = 0;
  const original = client.query.bind(client) as (...args: unknown[]) => unknown;
  const done = () => {
    if (--pending === 0) busy += performance.now() - since;
  };
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    if (pending++ === 0) since = performance.now();
    const r = original(...args);
    if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(done, done);
    // A COPY stream (pg-copy-streams) is returned as is: busy until it finishes or fails.
    else if (r && typeof (r as NodeJS.EventEmitter).once === 'function') {
      let settled = false;
      const end = () => {
        if (!settled) {
          settled = true;
          done();
        }
      };
      (r as NodeJS.EventEmitter).once('finish', end);
      (r as NodeJS.EventEmitter).once('error', end);
    } else done();
    return r;
  };
  return { ms: () => busy };
}

/** Peaks of process.memoryUsage(), sampled until stopped. */
function sampleMemory(): { stop: () => RunFigures['memory'] } {
  const peak = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  const take = () => {
    const m = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
    peak.external = Math.max(peak.external, m.external);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  };
  const timer = setInterval(take, 100);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}

const PROGRESS_EVERY_MS = 5_000;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** The Docker driver, with the time spent starting sessions and the wall time some batch was in the sandbox. */
class TimedDriver implements SandboxDriver {
  readonly kind: 'docker' | 'local';
  startMs = 0;
  busyMs = 0;
  sessions = 0;
  private pending = 0;
  private busySince = 0;

  constructor(private readonly inner: SandboxDriver) {
    this.kind = inner.kind;
  }

  available() {
    return this.inner.available();
  }

  async start(options: SandboxStartOptions): Promise<SandboxSession> {
    const t0 = performance.now();
    const session = await this.inner.start(options);
    this.startMs += performance.now() - t0;
    this.sessions += 1;
    return {
      driver: session.driver,
      transform: async (batch, rows) => {
        // Batches overlap now: what counts is the time some batch was out, not the sum.
        if (this.pending++ === 0) this.busySince = performance.now();
        try {
          return await session.transform(batch, rows);
        } finally {
          if (--this.pending === 0) this.busyMs += performance.now() - this.busySince;
        }
      },
      close: () => session.close(),
      [Symbol.asyncDispose]: () => session[Symbol.asyncDispose](),
    };
  }
}

/** utime + stime of a process from /proc/<pid>/stat, in seconds; null where there is no /proc. */
/** On-CPU and runqueue-wait nanoseconds so far of a process's main thread (its tid is its pid); null without schedstat. */
async function schedStat(pid: number): Promise<[number, number] | null> {
  try {
    const [onCpu, waiting] = (await readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')).trim().split(' ').map(Number);
    return Number.isFinite(onCpu) && Number.isFinite(waiting) ? [onCpu!, waiting!] : null;
  } catch {
    return null;
  }
}

const schedDiff = (after: [number, number] | null, before: [number, number] | null) =>
  after === null || before === null ? null : { onCpu: (after[0] - before[0]) / 1e9, waiting: (after[1] - before[1]) / 1e9 };

async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** The kernel's peak resident set of this process (VmHWM), in bytes; RSS now where /proc is missing. */
async function peakRss(): Promise<number> {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(await readFile('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // no /proc
  }
  return process.memoryUsage().rss;
}

/**
 * The connections `ferry run` opens (chain.ts openConnections, step for step), without
 * importing chain.ts: it loads the planning and code-generation agents (the TypeScript
 * compiler among them), which a run does not use and whose memory is not the run's.
 */
async function openRunConnections(sourceUrl: string, targetUrl: string): Promise<Connections> {
  const source = await connect(sourceUrl, 'source', 'ferry-source', {});
  const target = await connect(targetUrl, 'target', 'ferry-target', {});
  await assertSessionConnection(target, targetUrl, {});
  useTransactionTimeouts(target, DEFAULT_TRANSACTION_TIMEOUTS);
  return {
    source,
    target,
    close: async () => {
      await Promise.allSettled([source.end(), target.end()]);
    },
    reopen: () => openRunConnections(sourceUrl, targetUrl),
  };
}

const pidOf = async (c: pg.Client) => Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
const diff = (after: number | null, before: number | null) => (after === null || before === null ? null : after - before);

async function runOnce(spec: RunSpec): Promise<RunFigures> {
  // As `ferry run --parallel P` does once it knows P (src/cli/commands/run.ts).
  const heapSettings = tuneHeap(process.execArgv, process.env.NODE_OPTIONS, runGrowingPercent(spec.parallel));
  const plan = JSON.parse(await readFile(spec.planPath, 'utf8')) as MigrationPlan;
  const analysis = JSON.parse(await readFile(spec.analysisPath, 'utf8')) as SchemaAnalysis;
  const conn = await openRunConnections(spec.sourceUrl, spec.targetUrl);
  const driver = new TimedDriver(new DockerDriver());
  const extra: Connections[] = [];
  let last = performance.now();
  const onEvent = (e: RunEvent) => {
    if (e.type === 'batch_committed' && performance.now() - last >= PROGRESS_EVERY_MS) {
      last = performance.now();
      say(`    ${spec.label}: ${e.inserted.toLocaleString('en-US')} / ${spec.rows.toLocaleString('en-US')} rows, ${(e.elapsedMs / 1000).toFixed(2)} s`);
    } else if (e.type === 'log' && e.stream === 'stderr') say(`    │ ${e.line}`);
  };
  try {
    const backends = { source: await pidOf(conn.source), target: await pidOf(conn.target) };
    const cpuBefore = { self: process.cpuUsage(), source: await cpuSeconds(backends.source), target: await cpuSeconds(backends.target) };
    const rssBefore = process.memoryUsage().rss;
    const targetBusy = timeBusy(conn.target);
    const memory = sampleMemory();
    const schedBefore = { target: await schedStat(backends.target), main: await schedStat(process.pid) };
    const t0 = performance.now();
    const result = await runMigration({
      plan,
      analysis,
      bundle: spec.bundle,
      source: conn.source,
      target: conn.target,
      driver,
      policy: spec.sandboxTimeoutMs === undefined ? defaultPolicy : { ...defaultPolicy, timeoutMs: spec.sandboxTimeoutMs },
      onEvent,
      parallel: spec.parallel,
      connect: async (): Promise<Connections> => {
        const c = await conn.reopen();
        extra.push(c);
        return c;
      },
    });
    const ms = performance.now() - t0;
    const schedAfter = { target: await schedStat(backends.target), main: await schedStat(process.pid) };
    const memoryPeaks = memory.stop();
    const self = process.cpuUsage(cpuBefore.self);
    return {
      ms,
      status: result.status,
      error: result.status === 'completed' ? null : `${result.errorCode}: ${result.error}`,
      inserted: result.inserted,
      migrationId: result.migrationId,
      peakMemoryBytes: result.sandbox?.peakMemoryBytes ?? null,
      sandboxes: driver.sessions,
      startMs: driver.startMs,
      sandboxBusyMs: driver.busyMs,
      extraConnections: extra.length,
      rssBefore,
      rssPeak: await peakRss(),
      batches: result.batches,
      targetBusyMs: targetBusy.ms(),
      sched: { target: schedDiff(schedAfter.target, schedBefore.target), main: schedDiff(schedAfter.main, schedBefore.main) },
      memory: memoryPeaks,
      heap: { ...heapSettings, execArgv: process.execArgv },
      cpu: {
        orchestrator: (self.user + self.system) / 1e6,
        source: diff(await cpuSeconds(backends.source), cpuBefore.source),
        target: diff(await cpuSeconds(backends.target), cpuBefore.target),
      },
    };
  } finally {
    await Promise.allSettled(extra.map((c) => c.close()));
    await conn.close();
  }
}

const specPath = process.argv[2];
if (!specPath) {
  process.stderr.write('usage: node --import tsx bench/ferry-run.ts <spec.json>\n');
  process.exit(2);
}
runOnce(JSON.parse(await readFile(specPath, 'utf8')) as RunSpec).then(
  (figures) => {
    say(`FERRY_RESULT ${JSON.stringify(figures)}`);
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`ferry run failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
