/**
 * `npm run bench:sandbox`: what the sandbox costs, measured here and now, each figure next to
 * a reference measured in the same run (so the ratios hold on any machine; the absolute
 * numbers are this machine's):
 *
 *  1. first frame: from the run asking for a sandbox (driver.start) to the program's first
 *     frame ("ready"), median of 20: a cold container (create → start → ready), a warm one
 *     from the pool (sandbox/pool.ts: claim → policy check → bundle and secret in → ready;
 *     the pool refilled between runs, as `ferry serve` keeps it), and the local driver (a child node);
 *  2. throughput: 1M small rows through the row stream, against the local driver and against
 *     the same transform in-process (with and without the JSON round trip);
 *  3. the 31-row case study through runMigration on an embedded PostgreSQL: Docker driver
 *     cold, Docker from a warm pool, and the local driver, median of 5 each (rolled back between runs).
 *
 * `ferry run`'s own wall time, where the container starts while the plan loads (a pool of
 * one started at the beginning of the run), is `npm run bench:seed`.
 *
 * `npm run bench:sandbox -- --first-frame` prints section 1 only.
 *
 * Needs a Docker daemon and the sandbox image (`npm run sandbox:image`). Not a test: it
 * asserts nothing, it prints figures.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { approvePlan } from '../agents/planning/index.js';
import { describeToPlan, openConnections, prepareProgram } from '../src/chain.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { DEMO_DESCRIPTION, createLegacyDatabase, createTargetDatabase } from '../src/demo/seed-case.js';
import { rollbackMigration } from '../src/orchestrator/rollback.js';
import { runMigration } from '../src/orchestrator/run-migration.js';
import { DockerDriver } from '../sandbox/docker-driver.js';
import { LocalDriver } from '../sandbox/local-driver.js';
import { SandboxPool } from '../sandbox/pool.js';
import { createLogger } from '../src/logger.js';
import { defaultPolicy } from '../sandbox/policy.js';
import type { InputRow, SandboxDriver } from '../sandbox/types.js';

const here = dirname(fileURLToPath(import.meta.url));
const HARNESS = resolve(here, '../sandbox/harness/harness.ts');
const STARTUP_RUNS = 20;
const ROWS = 1_000_000;
const BATCH = 10_000;
const CASE_RUNS = 5;

const say = (line: string) => process.stdout.write(`${line}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function transform(row: Record<string, unknown>): Record<string, unknown> {
  return { id: row.id, name: String(row.name).toUpperCase() };
}

/** The benchmark program: the same transform, bundled with the harness like a generated program. */
async function bundle(dir: string): Promise<{ path: string; sha256: string }> {
  const entry = join(dir, 'program.ts');
  await writeFile(
    entry,
    `import { runHarness } from ${JSON.stringify(HARNESS)};\nvoid runHarness((row) => ({ id: row.id, name: String(row.name).toUpperCase() }));\n`,
  );
  const outfile = join(dir, 'bundle.cjs');
  await build({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node18', format: 'cjs', outfile, logLevel: 'silent' });
  return { path: outfile, sha256: createHash('sha256').update(await readFile(outfile)).digest('hex') };
}

function batchRows(b: number): InputRow[] {
  return Array.from({ length: BATCH }, (_, i) => {
    const id = b * BATCH + i;
    return { k: String(id), r: { id, name: `role ${id % 100}` } };
  });
}

let runCounter = 0;
const runId = (what: string) => `bench-${what}-${process.pid}-${++runCounter}`;

/** Median time from driver.start() to its return (the program's "ready" frame has arrived); `between` runs before each, untimed. */
async function firstFrameMedian(driver: SandboxDriver, b: { path: string; sha256: string }, between: () => Promise<void> = async () => undefined): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    await between();
    const t0 = performance.now();
    const session = await driver.start({ runId: runId('startup'), bundle: b, policy: defaultPolicy });
    times.push(performance.now() - t0);
    const run = await session.close();
    if (run.exitReason !== 'ok' || run.startupMs === null) throw new Error(`startup run ended ${run.exitReason}: ${run.message ?? ''}`);
  }
  return median(times);
}

/** The pool is full again and its new container has had a moment to settle, as between a service's runs. */
const refilled = (pool: SandboxPool) => async (): Promise<void> => {
  pool.fill();
  await pool.settled();
  await new Promise((r) => setTimeout(r, 300));
};

async function throughput(driver: SandboxDriver, b: { path: string; sha256: string }): Promise<{ streamMs: number; totalMs: number }> {
  const t0 = performance.now();
  const session = await driver.start({ runId: runId('rows'), bundle: b, policy: defaultPolicy });
  const t1 = performance.now();
  for (let batch = 0; batch < ROWS / BATCH; batch++) {
    const out = await session.transform(batch, batchRows(batch));
    if (out.status !== 'ok') throw new Error(`batch ${batch}: ${out.reason}: ${out.message}`);
  }
  const t2 = performance.now();
  const run = await session.close();
  if (run.exitReason !== 'ok') throw new Error(`throughput run ended ${run.exitReason}: ${run.message ?? ''}`);
  return { streamMs: t2 - t1, totalMs: performance.now() - t0 };
}

function inProcess(json: boolean): number {
  const t0 = performance.now();
  let sink = 0;
  for (let batch = 0; batch < ROWS / BATCH; batch++) {
    let rows = batchRows(batch);
    if (json) rows = (JSON.parse(JSON.stringify({ v: 1, t: 'batch', b: batch, rows })) as { rows: InputRow[] }).rows;
    const out = rows.map((r) => ({ k: r.k, r: transform(r.r) }));
    sink += json ? JSON.stringify({ v: 1, t: 'batch', b: batch, rows: out }).length : out.length;
  }
  if (sink === 0) throw new Error('nothing transformed');
  return performance.now() - t0;
}

async function seedCase(docker: SandboxDriver, pool: SandboxPool, local: SandboxDriver): Promise<{ docker: number; warm: number; local: number }> {
  say('  starting an embedded PostgreSQL with the case-study databases…');
  const server = await startEmbeddedPostgres();
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-case-'));
  try {
    await server.createDatabase('legacy');
    await server.createDatabase('target');
    await createLegacyDatabase(server.url('legacy'));
    await createTargetDatabase(server.url('target'));
    const conn = await openConnections(server.url('legacy'), server.url('target'));
    try {
      const made = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
      const plan = approvePlan(made.plan, 'bench');
      const program = await prepareProgram({ plan, analysis: made.analysis, dir: join(work, 'program') });
      const once = async (driver: SandboxDriver): Promise<number> => {
        const t0 = performance.now();
        const run = await runMigration({ plan, analysis: made.analysis, bundle: program.bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy });
        const ms = performance.now() - t0;
        if (run.status !== 'completed' || run.inserted !== 31) throw new Error(`the case run did not complete: ${JSON.stringify(run).slice(0, 300)}`);
        await rollbackMigration({ migrationId: run.migrationId, target: conn.target });
        return ms;
      };
      // One of each first, unmeasured: the first run creates the control tables and warms caches.
      await once(docker);
      await once(local);
      const times = { docker: [] as number[], warm: [] as number[], local: [] as number[] };
      for (let i = 0; i < CASE_RUNS; i++) {
        times.docker.push(await once(docker));
        await refilled(pool)();
        times.warm.push(await once(pool));
        times.local.push(await once(local));
      }
      return { docker: median(times.docker), warm: median(times.warm), local: median(times.local) };
    } finally {
      await conn.close();
    }
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const docker = new DockerDriver();
  const local = new LocalDriver();
  const available = await docker.available();
  if (!available.ok) throw new Error(`Docker is needed for this benchmark: ${available.reason}`);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  try {
    const b = await bundle(dir);
    say(`ferry sandbox benchmark — ${available.detail}; policy: ${defaultPolicy.memoryBytes / 2 ** 20} MB, ${defaultPolicy.cpus} CPU; Node ${process.version} here`);

    say(`\n1. first frame: the run asks for a sandbox → the program's "ready" arrives, median of ${STARTUP_RUNS}`);
    const pool = new SandboxPool(docker, { size: 1, policy: defaultPolicy, logger: createLogger('warn') });
    try {
      const dStart = await firstFrameMedian(docker, b);
      const wStart = await firstFrameMedian(pool, b, refilled(pool));
      const lStart = await firstFrameMedian(local, b);
      say(`   cold docker ${fmt(dStart)} ms   warm docker (pool) ${fmt(wStart)} ms (goal ≤ 150 ms)   local (child node) ${fmt(lStart)} ms`);
      say(`   warm ÷ cold ${fmt(wStart / dStart, 2)}; served warm ${pool.stats().warm} of ${STARTUP_RUNS}`);
    } finally {
      await pool.close();
    }

    if (process.argv.includes('--first-frame')) return;
    say(`\n2. throughput: ${fmt(ROWS)} small rows in batches of ${fmt(BATCH)}`);
    const dRows = await throughput(docker, b);
    const lRows = await throughput(local, b);
    const plain = inProcess(false);
    const json = inProcess(true);
    const rate = (ms: number) => (ROWS / ms) * 1000;
    say(`   docker     ${fmt(rate(dRows.streamMs))} rows/s (stream ${fmt(dRows.streamMs)} ms; with start and close ${fmt(dRows.totalMs)} ms)`);
    say(`   local      ${fmt(rate(lRows.streamMs))} rows/s (stream ${fmt(lRows.streamMs)} ms; with start and close ${fmt(lRows.totalMs)} ms)`);
    say(`   in-process ${fmt(rate(json))} rows/s with the JSON round trip (${fmt(json)} ms), ${fmt(rate(plain))} rows/s without (${fmt(plain)} ms)`);
    say(`   docker vs local ${fmt(dRows.streamMs / lRows.streamMs, 2)}×; docker vs in-process with JSON ${fmt(dRows.streamMs / json, 1)}×`);

    say(`\n3. the 31-row case through runMigration, median of ${CASE_RUNS}`);
    const casePool = new SandboxPool(docker, { size: 1, policy: defaultPolicy, logger: createLogger('warn') });
    try {
      const c = await seedCase(docker, casePool, local);
      say(`   cold docker ${fmt(c.docker)} ms   warm docker ${fmt(c.warm)} ms   local ${fmt(c.local)} ms   sandbox overhead cold ${fmt(c.docker - c.local)} ms, warm ${fmt(c.warm - c.local)} ms`);
    } finally {
      await casePool.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
