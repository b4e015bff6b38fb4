/**
 * `npm run bench:workers`: rows/s of `ferry run --queue` with 1, 2 and 3 `ferry worker`
 * processes (issue 18), on one table and on a set of six tables, beside the target's own
 * ingest — a raw COPY of the same rows from the source into the target, no sandbox, no
 * mappings — as the ceiling no number of workers can pass.
 *
 * On an embedded PostgreSQL (one server, both databases): the plans are made and approved by
 * the rules planner, their programs bundled, and queued with enqueueRun (what `ferry run
 * --queue` calls); the workers are real `ferry worker` child processes (bin/ferry.js), started
 * and registered before the clock starts. Timed from the enqueue to the queued run's end,
 * which includes each table's validation. Counts are checked after every run.
 *
 *   npm run bench:workers                               # 120,000 rows; six tables of 20,000
 *   npm run bench:workers -- --rows 60000 --workers 1,2 --partitions 6
 *
 * Needs Docker and the sandbox image. Prints figures; fails loudly on a wrong count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { approvePlan } from '../agents/planning/index.js';
import { describeToPlan, openConnections, prepareProgram, type Connections } from '../src/chain.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { openBoss } from '../src/queue/boss.js';
import { enqueueRun, type QueuedPlan } from '../src/queue/enqueue.js';
import { followRun } from '../src/queue/follow.js';
import { QueueDb } from '../src/queue/queue-db.js';
import { queueSettings } from '../src/queue/settings.js';
import { RunStore } from '../src/store/run-store.js';

const BIN = resolve(import.meta.dirname, '../bin/ferry.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const ROWS = Number(arg('rows', '120000'));
const WORKERS = arg('workers', '1,2,3').split(',').map(Number);
const PARTITIONS = Number(arg('partitions', '6'));
const SET_TABLES = 6;

const legacyTable = (name: string, rows: number, offset: number) => `
CREATE TABLE ${name} (meter_id bigint PRIMARY KEY, circuit text NOT NULL, watts integer, label text, read_on date NOT NULL);
INSERT INTO ${name} SELECT ${offset} + g * 2, 'C-' || (g % 211), CASE WHEN g % 17 = 0 THEN NULL ELSE g % 9000 END,
  CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN 'tab' || chr(9) || g ELSE 'label "' || g || '"' END, date '2020-01-01' + (g % 900)
  FROM generate_series(1, ${rows}) g;`;
const targetTable = (name: string) =>
  `CREATE TABLE ${name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id bigint UNIQUE, circuit text NOT NULL, watts integer, label text, read_on date NOT NULL);`;

interface Case {
  label: string;
  pairs: Array<{ source: string; target: string; rows: number }>;
}

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** The target's own ingest: COPY out of the source, COPY into a fresh copy of the target table; rows/s. */
async function copyCeiling(sourceUrl: string, targetUrl: string, pair: Case['pairs'][number]): Promise<number> {
  await sql(targetUrl, `CREATE TABLE bench_ceiling (LIKE ${pair.target} INCLUDING ALL)`);
  const src = new pg.Client({ connectionString: sourceUrl });
  const dst = new pg.Client({ connectionString: targetUrl });
  await src.connect();
  await dst.connect();
  try {
    const t0 = performance.now();
    await dst.query('BEGIN');
    await pipeline(
      src.query(copyTo(`COPY (SELECT gen_random_uuid(), meter_id, circuit, watts, label, read_on FROM ${pair.source}) TO STDOUT`)),
      dst.query(copyFrom('COPY bench_ceiling (id, legacy_id, circuit, watts, label, read_on) FROM STDIN')),
    );
    await dst.query('COMMIT');
    return pair.rows / ((performance.now() - t0) / 1000);
  } finally {
    await src.end();
    await dst.end();
    await sql(targetUrl, 'DROP TABLE bench_ceiling');
  }
}

function startWorkers(n: number, env: NodeJS.ProcessEnv): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, [BIN, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : (c.once('exit', () => r()), c.kill('SIGTERM'))))));
}

async function plansFor(conn: Connections, store: RunStore, c: Case, dir: string): Promise<QueuedPlan[]> {
  const out: QueuedPlan[] = [];
  for (const p of c.pairs) {
    const made = await describeToPlan({ description: `Migrate every row from ${p.source} into ${p.target}`, conn });
    const plan = approvePlan({ ...made.plan, strategy: { ...made.plan.strategy, batchSize: 5000 } }, 'bench');
    await store.savePlan(plan, made.analysis, { by: 'bench' });
    out.push({ plan, analysis: made.analysis, program: await prepareProgram({ plan, analysis: made.analysis, dir: join(dir, p.target) }) });
  }
  return out;
}

async function runCase(urls: { source: string; target: string }, c: Case, plans: QueuedPlan[], workers: number, dir: string): Promise<number> {
  for (const p of c.pairs) await sql(urls.target, `TRUNCATE ${p.target} CASCADE`);
  await sql(urls.target, `TRUNCATE ferry_control.migration_mappings; DELETE FROM ferry_control.migration_control`).catch(() => undefined);
  const env = { ...process.env, SOURCE_DATABASE_URL: urls.source, TARGET_DATABASE_URL: urls.target, FERRY_HOME: dir, FERRY_USER: 'bench' };
  const settings = queueSettings({});
  const queue = await QueueDb.open(urls.target);
  const store = await RunStore.open(urls.target);
  const conn = await openConnections(urls.source, urls.target);
  const boss = await openBoss(urls.target, settings, (e) => console.error(e));
  const children = startWorkers(workers, env);
  try {
    // Every worker registered (tsx compiled, Docker checked) before the clock starts.
    for (;;) {
      const r = await queue.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ferry_queue.workers WHERE state = 'running' AND pid = ANY($1::int[])`, [children.map((ch) => ch.pid)]);
      if (r.rows[0]!.n === workers) break;
      await new Promise((r2) => setTimeout(r2, 200));
    }
    const t0 = performance.now();
    const e = await enqueueRun({ plans, store, queue, boss, source: conn.source, target: conn.target, partitions: PARTITIONS, startedBy: 'bench' });
    const end = await followRun({ queue, boss, queueRunId: e.queueRunId, settings, say: () => {}, everyMs: 250 });
    const seconds = (performance.now() - t0) / 1000;
    if (end.status !== 'completed' || end.plans.some((p) => p.reportStatus !== 'passed')) throw new Error(`bench run failed: ${end.errorCode}: ${end.error}`);
    const total = c.pairs.reduce((n, p) => n + p.rows, 0);
    const mapped = Number((await sql(urls.target, 'SELECT count(*) AS n FROM ferry_control.migration_mappings')).rows[0].n);
    if (mapped !== total) throw new Error(`expected ${total} mappings, found ${mapped}`);
    return total / seconds;
  } finally {
    await stop(children);
    await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
    await conn.close();
    await store.close();
    await queue.close();
  }
}

async function main(): Promise<void> {
  const server = await startEmbeddedPostgres();
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-workers-'));
  try {
    await server.createDatabase('legacy');
    await server.createDatabase('target');
    const urls = { source: server.url('legacy'), target: server.url('target') };
    const per = Math.floor(ROWS / SET_TABLES);
    const single: Case = { label: `one table, ${ROWS.toLocaleString('en-US')} rows, ${PARTITIONS} ranges`, pairs: [{ source: 'meter_log', target: 'meter_readings', rows: ROWS }] };
    const set: Case = {
      label: `six tables of ${per.toLocaleString('en-US')} rows, ${PARTITIONS} ranges each`,
      pairs: Array.from({ length: SET_TABLES }, (_, i) => ({ source: `feeder_${i + 1}_log`, target: `feeder_${i + 1}_readings`, rows: per })),
    };
    for (const c of [single, set]) {
      for (const [i, p] of c.pairs.entries()) {
        await sql(urls.source, legacyTable(p.source, p.rows, i * 10_000_000));
        await sql(urls.target, targetTable(p.target));
      }
    }
    console.log(`bench:workers on ${availableParallelism()} core(s), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; one embedded PostgreSQL holds source, target and queue`);
    const store = await RunStore.open(urls.target);
    const conn = await openConnections(urls.source, urls.target);
    // Planned and approved once per case: the runs of a case queue the same approved plans.
    const planned = new Map<Case, QueuedPlan[]>();
    try {
      for (const c of [single, set]) planned.set(c, await plansFor(conn, store, c, dir));
    } finally {
      await conn.close();
      await store.close();
    }
    for (const c of [single, set]) {
      const ceiling = await copyCeiling(urls.source, urls.target, c.pairs[0]!);
      console.log(`\n${c.label}\n  target's own ingest (raw COPY, no sandbox, no mappings): ${Math.round(ceiling).toLocaleString('en-US')} rows/s`);
      for (const w of WORKERS) {
        const rate = await runCase(urls, c, planned.get(c)!, w, dir);
        console.log(`  ${w} worker(s): ${Math.round(rate).toLocaleString('en-US')} rows/s (${((100 * rate) / ceiling).toFixed(0)}% of the ceiling), load average ${loadavg()[0]!.toFixed(2)}`);
      }
    }
    console.log(
      `\nOn this machine every worker, its sandbox containers and PostgreSQL share ${availableParallelism()} core(s): past that many busy processes, another worker only divides the same CPU (see README, "Workers on several machines").`,
    );
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
