/**
 * `npm run bench`: ferry against a plain COPY pipe, on the case study at scale (issue 6).
 *
 * On an embedded PostgreSQL, a dispatch_role of N rows under the demo's filter (group 11, the
 * 31 role names of the case study in turn, so the plan's enum mapping covers every row) is
 * moved into technician_roles of another database: new uuids, the enum mapping, the chosen
 * technician_id, one migration_mappings row per row. Per size, in the same run:
 *
 *  - reference: the same transform written in SQL (generated from the plan: the CASE from
 *    plan.enumMappings, the FK decision's constant, the copied columns), as
 *      psql legacy -c "COPY (SELECT legacy key, gen_random_uuid(), <transform> …) TO STDOUT"
 *        | psql target -1 -c "CREATE TEMP TABLE ferry_ref …" -c "COPY ferry_ref FROM STDIN"
 *                         -c "INSERT INTO technician_roles … SELECT … FROM ferry_ref"
 *                         -c "INSERT INTO ferry_control.migration_mappings … SELECT … FROM ferry_ref"
 *    one transaction on the target; each uuid is made once and lands in both tables. Without
 *    a psql binary (PATH, /usr/lib/postgresql/<v>/bin) the same pipe runs in Node with
 *    pg-copy-streams; the output says which one ran (`--reference node|psql` forces one);
 *  - the floor (issue 17; `--no-floor` leaves it out): the reference's own rows and mappings,
 *    kept untimed as COPY files and staging tables, taken again by the server with nothing
 *    else (no source, transform or sandbox): target rows only, then target rows + mappings,
 *    each by `COPY … FROM STDIN` and by `INSERT … SELECT`, one transaction, from empty tables
 *    (see measureFloor). After each pgloader line, `floor (server ingest only): …` gives the
 *    faster of each and the ferry time that ÷ pgloader ≤ 0.6 needs, from pgloader's time;
 *  - the peer, pgloader (Debian's package; installed with apt-get when missing): the same
 *    transform as a view on the source (MATERIALIZE VIEWS), loaded into a staging table on the
 *    target, the rows and their mappings put in place by AFTER LOAD statements; a crashed
 *    pgloader run is retried once on a reset target, and the output says so. It runs once per
 *    P, just before ferry at that P, with `concurrency = P` (its own setting for P COPY writers
 *    into one table, P target backends like ferry's P partitions; see peerWorkers);
 *  - ferry: the real chain (describeToPlan, approvePlan, prepareProgram), then runMigration
 *    with the Docker driver and the default policy (but a 30-minute session limit, printed:
 *    the default 5 minutes ends a 1M-row run on a loaded machine), `parallel: P`, in a process of its own
 *    (bench/ferry-run.ts) so the memory printed is ferry's, not the bench's. Timed from the
 *    call to its return; counts checked afterwards (rows, mappings, mappings joined to rows).
 *
 * The server is configured for a large load (SERVER_SETTINGS: shared_buffers 1GB,
 * max_wal_size 8GB, checkpoint_timeout 30min; fsync on, synchronous_commit on) and listens
 * on loopback TCP; the settings are printed. Prints seconds, rows/s, ferry ÷ reference,
 * ferry ÷ pgloader, the orchestrator's RSS peak and the sandbox's peak memory, and the CPU of
 * each side: ferry's process and its backends, pgloader's process, the whole PostgreSQL server
 * (every backend) over each run. Then one `ferry ÷ pgloader: X (P=…)` line per P, the floor
 * line at the largest size, and last `ratio: X`: ferry ÷ reference at the largest size for the first P.
 *
 *   npm run bench                         # 100,000 and 1,000,000 rows, P = 1 and 2
 *   npm run bench -- --rows 100000        # one size
 *   npm run bench -- --rows 1e6 --parallel 2
 *   npm run bench -- --rows 100000 --no-peer   # without pgloader
 *   npm run bench -- --rows 100000 --no-floor  # without the floor lines
 *
 * Needs a Docker daemon and the sandbox image (`npm run sandbox:image`). Not a test: it
 * checks counts and fails loudly on wrong ones, otherwise it prints figures.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { approvePlan } from '../agents/planning/index.js';
import type { MigrationPlan } from '../src/core/artifacts/migration-plan.js';
import type { TableInfo } from '../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, prepareProgram, targetTableOf } from '../src/chain.js';
import { ensureControlTables, finishControl, insertControl, planTables } from '../src/control/control-tables.js';
import { contentHash } from '../src/core/artifacts/hash.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.js';
import { qualified, quoteIdent } from '../src/core/sql.js';
import { planWhere } from '../src/core/plan/filter-sql.js';
import { DEMO_DESCRIPTION, TECHNICIAN_GROUP_ID, TECHNICIAN_ROLES, createLegacyDatabase, createTargetDatabase } from '../src/demo/seed-case.js';
import { validateMigration } from '../src/validation/validate.js';
import { DockerDriver } from '../sandbox/docker-driver.js';
import { defaultPolicy } from '../sandbox/policy.js';
import type { RunFigures, RunSpec } from './ferry-run.js';
import { childCpuSeconds, serverCpu, type ServerCpu } from './proc-cpu.js';

/** The least plan.strategy.batchSize the bench runs with (an upper bound: the orchestrator may adapt below it). */
const BATCH_SIZE = 20_000;
const DEFAULT_SIZES = [100_000, 1_000_000];
const DEFAULT_PARALLEL = [1, 2];
/**
 * The sandbox's whole-session limit for ferry's runs here. The default policy's 5 minutes is
 * for one plan's program, not for a million rows on a loaded machine: a 1M run at load average
 * 20–38 on 2 CPUs was cut at 975k rows by SANDBOX_TIMEOUT. Everything else stays the default.
 */
const BENCH_SANDBOX_TIMEOUT_MS = 30 * 60_000;
/**
 * The server as a person loading a million rows would configure it: room for the working
 * set, checkpoints far apart. Durability stays on: fsync back on (ferry's embedded server
 * turns it off for tests), synchronous_commit and full_page_writes at their defaults.
 */
const SERVER_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '1GB',
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  maintenance_work_mem: '256MB',
  wal_buffers: '64MB',
  fsync: 'on',
};
const SHOWN_SETTINGS = [...Object.keys(SERVER_SETTINGS), 'synchronous_commit', 'full_page_writes', 'wal_level'];

const say = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? 'unknown' : `${fmt(bytes / 2 ** 20, 1)} MiB`);
const secs = (ms: number) => `${fmt(ms / 1000, 2)} s`;

class BenchError extends Error {}

// ── arguments ──────────────────────────────────────────────────────────────────────────────

interface Options {
  sizes: number[];
  parallel: number[];
  reference: 'auto' | 'psql' | 'node';
  /** Run the pgloader peer (default on; `--no-peer` leaves it out). */
  peer: boolean;
  /** Measure the server's own ingest floor (default on; `--no-floor` leaves it out). */
  floor: boolean;
}

function parseCount(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(e\d+|k|m)?$/i.exec(text.replace(/[_,]/g, ''));
  if (!m) throw new BenchError(`${what}: not a number: ${text}`);
  const unit = m[2]?.toLowerCase();
  const n = Number(m[1]) * (unit === 'k' ? 1e3 : unit === 'm' ? 1e6 : unit ? 10 ** Number(unit.slice(1)) : 1);
  if (!Number.isInteger(n) || n <= 0) throw new BenchError(`${what}: not a positive whole number: ${text}`);
  return n;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { sizes: DEFAULT_SIZES, parallel: DEFAULT_PARALLEL, reference: 'auto', peer: true, floor: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new BenchError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--rows') opts.sizes = value().split(',').map((v) => parseCount(v, '--rows'));
    else if (flag === '--parallel') opts.parallel = value().split(',').map((v) => parseCount(v, '--parallel'));
    else if (flag === '--reference') {
      const v = value();
      if (v !== 'psql' && v !== 'node' && v !== 'auto') throw new BenchError(`--reference is psql, node or auto, not ${v}`);
      opts.reference = v;
    } else if (flag === '--no-peer') opts.peer = false;
    else if (flag === '--no-floor') opts.floor = false;
    else if (flag === '--help' || flag === '-h') {
      say('npm run bench [-- --rows N[,N…]] [--parallel P[,P…]] [--reference psql|node] [--no-peer] [--no-floor]');
      process.exit(0);
    } else throw new BenchError(`unknown argument ${argv[i]} (try --help)`);
  }
  for (const n of opts.sizes) {
    if (n < TECHNICIAN_ROLES.length) throw new BenchError(`--rows ${n}: at least ${TECHNICIAN_ROLES.length}, the case study's own rows`);
  }
  return opts;
}

// ── the databases ──────────────────────────────────────────────────────────────────────────

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The case study's databases, the legacy table grown to `rows` rows under the demo filter:
 * the 31 rows of the seed stay, the rest are added in one INSERT … SELECT over
 * generate_series, cycling through the 31 role names (the case study has each once), so
 * every row meets the plan's enum mapping. The other groups' 22 rows stay and never move.
 */
async function seed(server: EmbeddedServer, legacy: string, target: string, rows: number): Promise<void> {
  await server.createDatabase(legacy);
  await server.createDatabase(target);
  await createLegacyDatabase(server.url(legacy));
  await createTargetDatabase(server.url(target));
  await withClient(server.url(legacy), async (c) => {
    const roles = TECHNICIAN_ROLES.map(([name, abbrev], i) => `(${i}, ${literal(name)}, ${literal(abbrev)})`).join(', ');
    const extra = rows - TECHNICIAN_ROLES.length;
    await c.query(
      `INSERT INTO dispatch_role (name, abbrev, type, "order", user_id, group_id)
       SELECT r.name, r.abbrev, 'technician', 1000 + g, 1 + g % 12, ${TECHNICIAN_GROUP_ID}
         FROM generate_series(1, ${extra}) g JOIN (VALUES ${roles}) AS r(i, name, abbrev) ON r.i = g % ${TECHNICIAN_ROLES.length}`,
    );
    await c.query('VACUUM ANALYZE dispatch_role');
  });
  await withClient(server.url(target), (c) => ensureControlTables(c));
}

async function dropDatabases(server: EmbeddedServer, names: string[]): Promise<void> {
  await withClient(server.url('postgres'), async (c) => {
    for (const n of names) await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(n)} WITH (FORCE)`);
  });
}

async function resetTarget(url: string, plan: MigrationPlan): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`TRUNCATE ${qualified(plan.target.schema, plan.target.table)}, ferry_control.migration_mappings, ferry_control.migration_control`);
    await c.query('CHECKPOINT');
  });
}

/** Rows in the target table, the run's mappings, and mappings whose new id is a row of the table. */
async function verify(url: string, plan: MigrationPlan, migrationId: number, rows: number, who: string): Promise<void> {
  const pk = quoteIdent(plan.target.primaryKey);
  const r = await withClient(url, async (c) => {
    // Statistics first: after TRUNCATE and a load in one statement (pgloader's AFTER LOAD) they
    // still say "empty" until autovacuum comes by, and the join below was then planned as a
    // nested loop over a million rows each side (a verify that ran for minutes).
    await c.query(`ANALYZE ${qualified(plan.target.schema, plan.target.table)}; ANALYZE ferry_control.migration_mappings`);
    return c.query<{ rows: string; mappings: string; joined: string }>(
      `SELECT (SELECT count(*) FROM ${qualified(plan.target.schema, plan.target.table)}) AS rows,
              (SELECT count(*) FROM ferry_control.migration_mappings WHERE migration_id = $1) AS mappings,
              (SELECT count(*) FROM ferry_control.migration_mappings m JOIN ${qualified(plan.target.schema, plan.target.table)} t ON t.${pk}::text = m.new_id
                WHERE m.migration_id = $1) AS joined`,
      [migrationId],
    );
  });
  const got = r.rows[0]!;
  const problems: string[] = [];
  if (Number(got.rows) !== rows) problems.push(`${got.rows} target rows`);
  if (Number(got.mappings) !== rows) problems.push(`${got.mappings} mappings`);
  if (Number(got.joined) !== rows) problems.push(`${got.joined} mappings pointing at a target row`);
  if (problems.length) throw new BenchError(`${who}: wrong counts after the run: ${problems.join(', ')}; expected ${fmt(rows)} of each`);
}

// ── the reference: the same transform in SQL, one COPY pipe ───────────────────────────────

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `ARRAY[${v.map(literal).join(', ')}]`;
  return pg.escapeLiteral(String(v));
}

/** The plan's filter (ferry's own planWhere) with its parameters written as literals: COPY takes none. */
function whereLiteral(plan: MigrationPlan): string {
  const w = planWhere(plan);
  return w.sql.replace(/\$(\d+)/g, (_, n: string) => literal(w.params[Number(n) - 1]));
}

interface ReferenceSql {
  /** On the source: `COPY (SELECT legacy key, <target columns>) TO STDOUT`. */
  copyOut: string;
  /** On the target, in one transaction: the staging table, its COPY, the two inserts (the mappings' migration id as $CONTROL). */
  stagingDdl: string;
  copyIn: string;
  /** The target columns the transform writes (quoted, in order): the reference's and the floor's column list. */
  targetColumns: string;
  insertRows: string;
  insertMappings: (controlId: number) => string;
  /** The peer's view on the source (plain names; values as the source computes them, cast on the target). */
  viewSelect: string;
  /** On the target, from the peer's staging table (the view's copy): the rows, cast to the target's types, and the mappings. */
  peerInsertRows: (table: string) => string;
  peerInsertMappings: (table: string, controlId: number) => string;
}

/**
 * The plan's transform as SQL, column by column from the same plan the program was written
 * from: copy/cast → the source column, constant → the value, foreign_key → the decision's
 * value, enum_map → CASE over plan.enumMappings, generated_uuid → gen_random_uuid() (made on
 * the source, once per row: the same value goes to the row and to its mapping), default →
 * not written. Other origins (via_mapping, transform) are not part of this case.
 */
function referenceSql(plan: MigrationPlan, target: TableInfo): ReferenceSql {
  const typeOf = (name: string) => {
    const c = target.columns.find((x) => x.name === name);
    if (!c) throw new BenchError(`the target has no column ${name}`);
    return c.pgType;
  };
  const staged: Array<{ name: string; expr: string; type: string }> = [];
  for (const c of plan.columns) {
    const o = c.origin;
    let expr: string;
    switch (o.kind) {
      case 'default':
        continue;
      case 'generated_uuid':
        expr = 'gen_random_uuid()';
        break;
      case 'copy':
      case 'cast':
        expr = quoteIdent(o.source);
        break;
      case 'constant':
        expr = literal(o.value);
        break;
      case 'foreign_key': {
        const fk = plan.foreignKeys.find((f) => f.column === c.target);
        if (!fk || fk.value === null) throw new BenchError(`no foreign-key decision for ${c.target}`);
        expr = literal(fk.value);
        break;
      }
      case 'enum_map': {
        const m = plan.enumMappings.find((x) => x.targetColumn === c.target);
        if (!m) throw new BenchError(`no enum mapping for ${c.target}`);
        const src = `${quoteIdent(o.source)}::text`;
        const whens = m.values.map((v) => (v.source === null ? `WHEN ${src} IS NULL THEN ${literal(v.target)}` : `WHEN ${src} = ${literal(v.source)} THEN ${literal(v.target)}`));
        expr = `CASE ${whens.join(' ')} END`;
        break;
      }
      default:
        throw new BenchError(`the reference has no SQL for a ${o.kind} column (${c.target})`);
    }
    staged.push({ name: c.target, expr, type: typeOf(c.target) });
  }
  const pk = plan.target.primaryKey;
  if (!staged.some((s) => s.name === pk)) throw new BenchError(`the plan does not write the primary key ${pk}`);
  const { sourceTable, targetTable } = planTables(plan);
  const key = quoteIdent(plan.source.key);
  const from = `${qualified(plan.source.schema, plan.source.table)} ${whereLiteral(plan)}`;
  const names = staged.map((s) => quoteIdent(s.name)).join(', ');
  const mappingsFrom = (controlId: number, table: string, legacy: string) =>
    `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id)
       SELECT ${controlId}, 1, ${literal(sourceTable)}, ${legacy}, ${literal(targetTable)}, ${quoteIdent(pk)}::text FROM ${table}`;
  return {
    viewSelect: `SELECT ${key}::text AS ferry_legacy_key, ${staged.map((s) => `${s.expr} AS ${quoteIdent(s.name)}`).join(', ')} FROM ${from}`,
    peerInsertRows: (table) =>
      `INSERT INTO ${qualified(plan.target.schema, plan.target.table)} (${names}) SELECT ${staged.map((s) => `${quoteIdent(s.name)}::${s.type}`).join(', ')} FROM ${table}`,
    peerInsertMappings: (table, controlId) => mappingsFrom(controlId, table, 'ferry_legacy_key'),
    copyOut: `COPY (SELECT ${key}::text, ${staged.map((s) => s.expr).join(', ')} FROM ${from}) TO STDOUT`,
    stagingDdl: `CREATE TEMP TABLE ferry_ref ("ferry legacy key" text, ${staged.map((s) => `${quoteIdent(s.name)} ${s.type}`).join(', ')}) ON COMMIT DROP`,
    copyIn: 'COPY ferry_ref FROM STDIN',
    targetColumns: names,
    insertRows: `INSERT INTO ${qualified(plan.target.schema, plan.target.table)} (${names}) SELECT ${names} FROM ferry_ref`,
    insertMappings: (controlId) => mappingsFrom(controlId, 'ferry_ref', '"ferry legacy key"'),
  };
}

interface Reference {
  label: string;
  run(sql: ReferenceSql, sourceUrl: string, targetUrl: string, controlId: number): Promise<void>;
}

const run = promisify(execFile);

/** psql on PATH, else the newest /usr/lib/postgresql/<v>/bin/psql; null when there is none. */
async function findPsql(): Promise<{ path: string; version: string } | null> {
  const candidates = ['psql'];
  try {
    const versions = (await readdir('/usr/lib/postgresql')).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin/psql`));
  } catch {
    // no Debian-style PostgreSQL install
  }
  for (const path of candidates) {
    try {
      const { stdout } = await run(path, ['--version']);
      return { path, version: stdout.trim() };
    } catch {
      // not this one
    }
  }
  return null;
}

/**
 * The pipe as a shell runs it: `psql source … | psql target …`, bytes going straight from
 * one process to the other. URLs and SQL reach bash through the environment, never quoted
 * into the command line.
 */
const PSQL_PIPE =
  'set -o pipefail; "$PSQL" "$SOURCE_URL" -X -q -v ON_ERROR_STOP=1 -c "$COPY_OUT" ' +
  '| "$PSQL" "$TARGET_URL" -X -q -v ON_ERROR_STOP=1 -1 -c "$STAGING_DDL" -c "$COPY_IN" -c "$INSERT_ROWS" -c "$INSERT_MAPPINGS"';

function psqlReference(psql: { path: string; version: string }): Reference {
  return {
    label: `${psql.version} (${psql.path}): psql -c "COPY (SELECT …) TO STDOUT" | psql -1 -c "COPY ferry_ref FROM STDIN" -c "INSERT …"`,
    async run(sql, sourceUrl, targetUrl, controlId) {
      const child = spawn('bash', ['-c', PSQL_PIPE], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          PSQL: psql.path,
          SOURCE_URL: sourceUrl,
          TARGET_URL: targetUrl,
          COPY_OUT: sql.copyOut,
          STAGING_DDL: sql.stagingDdl,
          COPY_IN: sql.copyIn,
          INSERT_ROWS: sql.insertRows,
          INSERT_MAPPINGS: sql.insertMappings(controlId),
        },
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, signal) =>
          code === 0 ? resolve() : reject(new BenchError(`the psql pipe exited ${signal ?? code}: ${stderr.trim().slice(-800)}`)),
        );
      });
    },
  };
}

const nodeReference: Reference = {
  label: 'Node, pg-copy-streams: COPY … TO STDOUT stream piped into COPY ferry_ref FROM STDIN stream, then the same two INSERTs',
  async run(sql, sourceUrl, targetUrl, controlId) {
    await withClient(sourceUrl, (src) =>
      withClient(targetUrl, async (dst) => {
        await dst.query('BEGIN');
        try {
          await dst.query(sql.stagingDdl);
          await pipeline(src.query(copyTo(sql.copyOut)), dst.query(copyFrom(sql.copyIn)));
          await dst.query(sql.insertRows);
          await dst.query(sql.insertMappings(controlId));
          await dst.query('COMMIT');
        } catch (e) {
          await dst.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
      }),
    );
  },
};

async function chooseReference(wanted: Options['reference']): Promise<Reference> {
  if (wanted === 'node') return { ...nodeReference, label: `${nodeReference.label} (--reference node)` };
  const psql = await findPsql();
  const bash = await run('bash', ['-c', 'true']).then(
    () => true,
    () => false,
  );
  if (psql && bash) return psqlReference(psql);
  if (wanted === 'psql') throw new BenchError('--reference psql: no psql on PATH or in /usr/lib/postgresql/*/bin, or no bash to pipe it');
  return { ...nodeReference, label: `${nodeReference.label} (no psql${psql ? ' pipe: no bash' : ' found'})` };
}

// ── ferry, in a process of its own ─────────────────────────────────────────────────────────

let runner: string | null = null;

interface FerryFigures extends RunFigures {
  /** Peak resident memory of the run's process as sampled from here (VmRSS every 50 ms). */
  rssSampled: number;
  /** CPU the run's sandbox containers used (their cgroups, sampled every 250 ms); null where unreadable. */
  sandboxCpu: number | null;
}

/** A container's CPU so far from its cgroup (v1 cpuacct, v2 cpu.stat), in seconds; null when not found. */
async function containerCpuSeconds(id: string): Promise<number | null> {
  for (const [path, parse] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (t: string) => Number(t) / 1e9],
    [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, (t: string) => Number(/usage_usec (\d+)/.exec(t)?.[1]) / 1e6],
    [`/sys/fs/cgroup/docker/${id}/cpu.stat`, (t: string) => Number(/usage_usec (\d+)/.exec(t)?.[1]) / 1e6],
  ] as const) {
    try {
      const v = parse(await readFile(path, 'utf8'));
      if (Number.isFinite(v)) return v;
    } catch {
      // not this layout
    }
  }
  return null;
}

/** Where a cgroup layout keeps one directory per container (v1 cpuacct, v2 systemd, v2 cgroupfs), and the id in an entry's name. */
const CGROUP_DIRS: ReadonlyArray<{ dir: string; id: (name: string) => string | null }> = [
  { dir: '/sys/fs/cgroup/cpuacct/docker', id: (name) => (/^[0-9a-f]{64}$/.test(name) ? name : null) },
  { dir: '/sys/fs/cgroup/system.slice', id: (name) => /^docker-([0-9a-f]{64})\.scope$/.exec(name)?.[1] ?? null },
  { dir: '/sys/fs/cgroup/docker', id: (name) => (/^[0-9a-f]{64}$/.test(name) ? name : null) },
];

/** Ids of the containers that have a cgroup now; null where no layout is readable. */
async function cgroupContainerIds(): Promise<string[] | null> {
  let readable = false;
  const ids: string[] = [];
  for (const layout of CGROUP_DIRS) {
    try {
      for (const name of await readdir(layout.dir)) {
        const id = layout.id(name);
        if (id) ids.push(id);
      }
      readable = true;
    } catch {
      // not this layout
    }
  }
  return readable ? ids : null;
}

/**
 * The CPU of the sandbox containers a ferry process starts (labelled ferry.owner.pid), followed
 * while they run: each container's last reading is kept, since its cgroup goes when it exits.
 * Up to 250 ms of a container's last moments can be missed. Every 250 ms it reads cgroup files
 * only; the daemon is asked whose a container is once, when its cgroup first appears. (It ran
 * `docker ps` every 250 ms before: ~70 ms of CPU each on this machine, 14% of its 2 CPUs taken
 * from the run it measured, and from ferry's side only.)
 */
function watchSandboxCpu(ownerPid: number): { stop(): Promise<number | null> } {
  const client = new DockerDriver({ reapOnStart: false }).client;
  const last = new Map<string, number>();
  const seen = new Set<string>();
  const ours = new Set<string>();
  let unreadable = false;
  const sample = async () => {
    const present = await cgroupContainerIds();
    if (present === null) {
      unreadable = true;
      return;
    }
    const fresh = present.filter((id) => !seen.has(id));
    if (fresh.length > 0) {
      const owned = new Set(await client.listContainerIds({ 'ferry.owner.pid': String(ownerPid) }).catch(() => [] as string[]));
      for (const id of fresh) {
        seen.add(id);
        if (owned.has(id)) ours.add(id);
      }
    }
    for (const id of ours) {
      const cpu = await containerCpuSeconds(id);
      if (cpu !== null) last.set(id, Math.max(last.get(id) ?? 0, cpu));
    }
  };
  let busy: Promise<void> | null = null;
  const timer = setInterval(() => {
    busy ??= sample().finally(() => (busy = null));
  }, 250);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      return unreadable && last.size === 0 ? null : [...last.values()].reduce((a, b) => a + b, 0);
    },
  };
}

/** VmRSS of a process, in bytes; null once it is gone. */
async function rssOf(pid: number): Promise<number | null> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * bench/ferry-run.ts compiled once into one JavaScript file (esbuild, dependencies left as
 * imports), so the child is plain Node running compiled code, as a shipped CLI is: tsx's
 * loader compiling the sources in-process holds ~100 MiB that is not ferry's.
 *
 * The file is this bench's own (named by its pid, removed at exit) and new: a fixed name was
 * written in place, and where node_modules is hard-linked between checkouts (git worktrees
 * sharing one install) another checkout's bench overwrote it between two runs of this one,
 * which then measured that checkout's code.
 */
async function compileRunner(): Promise<string> {
  const outfile = join(import.meta.dirname, '..', 'node_modules', '.cache', 'ferry-bench', `ferry-run-${process.pid}.mjs`);
  await rm(outfile, { force: true });
  process.once('exit', () => rmSync(outfile, { force: true }));
  await esbuild({
    entryPoints: [join(import.meta.dirname, 'ferry-run.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return outfile;
}

/** Runs ferry (compiled bench/ferry-run.ts) in a child process, its progress relayed; the figures are the child's own. */
async function runFerry(spec: RunSpec, work: string): Promise<FerryFigures> {
  const specPath = join(work, `run-${spec.label.replace(/\W+/g, '-')}.json`);
  await writeFile(specPath, JSON.stringify(spec));
  runner ??= await compileRunner();
  // FERRY_BENCH_NODE_OPTIONS: flags for ferry's own process only (e.g. --cpu-prof --cpu-prof-dir=…), for profiling.
  const nodeFlags = (process.env.FERRY_BENCH_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, runner, specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let result: RunFigures | null = null;
  let stderr = '';
  let rssSampled = 0;
  const sampler = setInterval(() => {
    void rssOf(child.pid!).then((rss) => (rssSampled = Math.max(rssSampled, rss ?? 0)));
  }, 50);
  const sandboxCpu = watchSandboxCpu(child.pid!);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('FERRY_RESULT ')) result = JSON.parse(line.slice('FERRY_RESULT '.length)) as RunFigures;
    else say(line);
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
    for (const line of d.toString().split('\n').filter(Boolean)) say(`    ! ${line}`);
  });
  const [code] = (await once(child, 'close')) as [number | null];
  clearInterval(sampler);
  const sandboxCpuS = await sandboxCpu.stop();
  const figures = result as RunFigures | null;
  if (code !== 0 || figures === null) throw new BenchError(`${spec.label}: the ferry process exited ${code}: ${stderr.trim().slice(-1500)}`);
  if (figures.status !== 'completed') throw new BenchError(`${spec.label}: the run failed: ${figures.error}`);
  if (figures.inserted !== spec.rows) throw new BenchError(`${spec.label}: the run reports ${fmt(figures.inserted)} rows inserted, expected ${fmt(spec.rows)}`);
  return { ...figures, rssSampled, sandboxCpu: sandboxCpuS };
}

// ── the peer: pgloader ─────────────────────────────────────────────────────────────────────

/** pgloader's URL for a database of the (TCP) server. */
function pgloaderUrl(url: string): string {
  return url.replace(/^postgres(ql)?:\/\//, 'pgsql://');
}

/**
 * The pgloader load a user would write for this move: the transform as a view on the source
 * (MATERIALIZE VIEWS: pgloader creates it, reads it, drops it), loaded into a staging table
 * of the target, and the rows and their mappings put in place by AFTER LOAD statements, so
 * each generated uuid goes to both.
 */
function pgloaderCommand(sql: ReferenceSql, sourceUrl: string, targetUrl: string, controlId: number, concurrency: number): string {
  const view = PEER_VIEW;
  return `LOAD DATABASE
  FROM ${pgloaderUrl(sourceUrl)}
  INTO ${pgloaderUrl(targetUrl)}
  WITH include drop, create tables, create no indexes, no foreign keys, reset no sequences,
       workers = ${peerWorkers(concurrency)}, concurrency = ${concurrency}
  MATERIALIZE VIEWS ${view} AS $$ ${sql.viewSelect} $$
  INCLUDING ONLY TABLE NAMES MATCHING '${view}' IN SCHEMA 'public'
  AFTER LOAD DO
    $$ ${sql.peerInsertRows(`public.${view}`)}; $$,
    $$ ${sql.peerInsertMappings(`public.${view}`, controlId)}; $$,
    $$ DROP TABLE public.${view}; $$;
`;
}

const PEER_VIEW = 'ferry_peer_rows';

/**
 * pgloader's threads for ferry's P: `concurrency = P` is its own knob for several COPY writers
 * into one table (P target backends, as ferry's P partitions have), `workers` its thread pool,
 * kept at its documented default of 4 or raised so the reader and the P writers all fit. A view
 * has no key pgloader can range over, so its read stays one reader, as ferry's P=1 source read
 * is; the AFTER LOAD statements are one statement each whatever the setting.
 */
const peerWorkers = (concurrency: number) => Math.max(4, concurrency + 2);

async function pgloaderVersion(): Promise<string | null> {
  try {
    return (await run('pgloader', ['--version'])).stdout.split('\n')[0]!.trim();
  } catch {
    return null;
  }
}

/** pgloader from Debian's package, installed when missing (apt-get update first). */
async function ensurePgloader(): Promise<string> {
  const have = await pgloaderVersion();
  if (have) return have;
  say('pgloader is missing: apt-get update && apt-get install -y pgloader');
  try {
    await run('apt-get', ['update'], { maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', 'pgloader'], { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (e) {
    throw new BenchError(`cannot install pgloader with apt-get (run as root, or install it yourself): ${(e as Error).message.slice(0, 600)}`);
  }
  const now = await pgloaderVersion();
  if (!now) throw new BenchError('apt-get installed pgloader, but `pgloader --version` still fails');
  return now;
}

/** One pgloader run; resolves with its exit and the tail of what it printed. */
async function pgloaderOnce(commandFile: string): Promise<{ code: number | null; signal: string | null; tail: string; cpuS: number | null }> {
  const children = childCpuSeconds();
  const child = spawn('pgloader', ['--no-ssl-cert-verification', commandFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-6000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  // pgloader is the only child reaped meanwhile: the growth of this process's children's CPU is its own.
  const after = childCpuSeconds();
  return { code, signal, tail: out, cpuS: after === null || children === null ? null : after - children };
}

/**
 * The peer's run: pgloader on the same databases, timed from its start to its exit. A
 * crashed run (non-zero exit or a signal) is retried once, on a reset target, and said so.
 */
async function runPeer(input: {
  sql: ReferenceSql;
  sourceUrl: string;
  targetUrl: string;
  plan: MigrationPlan;
  rows: number;
  work: string;
  concurrency: number;
  server: ServerCpu;
}): Promise<{ ms: number; retried: string | null; migrationId: number; cpu: { pgloader: number | null; server: number | null } }> {
  let retried: string | null = null;
  for (let attempt = 1; ; attempt++) {
    await resetTarget(input.targetUrl, input.plan);
    await withClient(input.targetUrl, (c) => c.query(`DROP TABLE IF EXISTS public.${PEER_VIEW}`));
    const controlId = await withClient(input.targetUrl, (c) => insertControl(c, input.plan, contentHash(input.plan)));
    const file = join(input.work, `peer-${input.rows}.load`);
    await writeFile(file, pgloaderCommand(input.sql, input.sourceUrl, input.targetUrl, controlId, input.concurrency));
    const serverBefore = await input.server.seconds();
    const t = performance.now();
    const got = await pgloaderOnce(file);
    const ms = performance.now() - t;
    const serverAfter = await input.server.seconds();
    const crashed = got.code !== 0 || got.signal !== null;
    if (!crashed) {
      await withClient(input.targetUrl, (c) => finishControl(c, controlId, { status: 'completed' }));
      return { ms, retried, migrationId: controlId, cpu: { pgloader: got.cpuS, server: serverAfter === null || serverBefore === null ? null : serverAfter - serverBefore } };
    }
    const why = `pgloader ${got.signal ? `was killed by ${got.signal}` : `exited ${got.code}`} after ${secs(ms)}: ${got.tail.trim().split('\n').slice(-6).join(' ⏎ ').slice(-800)}`;
    if (attempt > 1) throw new BenchError(`${why} (and it had crashed once before: ${retried})`);
    retried = why;
    say(`  pgloader crashed; retrying once on a reset target. ${why}`);
  }
}

// ── CPU: where it goes ─────────────────────────────────────────────────────────────────────

const cpuText = (s: number | null) => (s === null ? '?' : secs(s * 1000));

// ── the floor: what the server itself takes, with nothing else ────────────────────────────

/** The mapping columns as ferry's batch writer sends them (src/orchestrator/write-batch.ts). */
const MAPPING_COLUMNS = 'migration_id, batch_id, source_table, target_table, legacy_id, new_id';
const FLOOR_ROWS = 'public.ferry_floor_rows';
const FLOOR_MAPPINGS = 'public.ferry_floor_mappings';

type FloorMethod = 'COPY' | 'INSERT … SELECT';

interface FloorLine {
  /** With the mappings (one transaction: the rows, then their mappings) or the target rows alone. */
  mappings: boolean;
  method: FloorMethod;
  ms: number;
  serverCpu: number | null;
}

interface Floor {
  lines: FloorLine[];
  /** The faster method of each kind. */
  target: FloorLine;
  withMappings: FloorLine;
}

const fasterOf = (lines: FloorLine[]) => lines.reduce((a, b) => (b.ms < a.ms ? b : a));

/** Empty target table and mappings, the reference's control row kept (the mappings name it), then a CHECKPOINT: every floor line starts alike. */
async function resetFloor(url: string, plan: MigrationPlan): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`TRUNCATE ${qualified(plan.target.schema, plan.target.table)}, ferry_control.migration_mappings`);
    await c.query('CHECKPOINT');
  });
}

/**
 * The server's ingest floor on this machine: the reference's already-transformed rows and
 * their mappings taken by the server with nothing else in the way (no source read, no
 * transform, no sandbox, no client work but streaming bytes).
 *
 * Not timed: the rows the reference just wrote are kept twice, as COPY text files (the rows
 * in the reference's column order; the mappings in ferry's columns, migration_id the
 * reference's control row, batch_id counting up every BATCH_SIZE rows as ferry numbers its
 * batches (ferry's own are sized by bytes, often smaller: the value only spreads the keys of
 * the run index), created_at left to its default as ferry leaves it) and as unlogged staging tables on the
 * target (vacuumed, so hint bits are set before a timed read). Timed, each from empty tables
 * after a CHECKPOINT, in ONE transaction on one open connection (BEGIN … COMMIT, fsync and
 * synchronous_commit as the server has them), into the real table with its real primary key,
 * foreign key, defaults and RLS, and the real migration_mappings with its indexes and its
 * per-statement control trigger:
 *  - target rows only: `COPY target FROM STDIN` (the file streamed from this process) and
 *    `INSERT INTO target … SELECT … FROM staging`;
 *  - target rows + mappings: the same, then the mappings the same way in the same transaction.
 * Counts are checked after each. The reference's control row stays; the tables are emptied
 * at the end (the peer and ferry reset the target before they run).
 */
async function measureFloor(input: { targetUrl: string; plan: MigrationPlan; sql: ReferenceSql; controlId: number; rows: number; work: string; cpu: ServerCpu }): Promise<Floor> {
  const { targetUrl, plan, sql, controlId, rows, work, cpu } = input;
  const table = qualified(plan.target.schema, plan.target.table);
  const rowsFile = join(work, `floor-rows-${rows}.copy`);
  const mappingsFile = join(work, `floor-mappings-${rows}.copy`);
  let t = performance.now();
  await withClient(targetUrl, async (c) => {
    await c.query(`DROP TABLE IF EXISTS ${FLOOR_ROWS}, ${FLOOR_MAPPINGS}`);
    await c.query(`CREATE UNLOGGED TABLE ${FLOOR_ROWS} AS SELECT ${sql.targetColumns} FROM ${table}`);
    await c.query(
      `CREATE UNLOGGED TABLE ${FLOOR_MAPPINGS} AS
         SELECT migration_id, ((row_number() OVER () - 1) / ${BATCH_SIZE} + 1)::integer AS batch_id, source_table, target_table, legacy_id, new_id
           FROM ferry_control.migration_mappings WHERE migration_id = ${Number(controlId)}`,
    );
    await c.query(`VACUUM ANALYZE ${FLOOR_ROWS}`);
    await c.query(`VACUUM ANALYZE ${FLOOR_MAPPINGS}`);
    await pipeline(c.query(copyTo(`COPY ${FLOOR_ROWS} TO STDOUT`)), createWriteStream(rowsFile));
    await pipeline(c.query(copyTo(`COPY ${FLOOR_MAPPINGS} TO STDOUT`)), createWriteStream(mappingsFile));
  });
  const sizes = `${mib((await stat(rowsFile)).size)} of rows, ${mib((await stat(mappingsFile)).size)} of mappings`;
  say(`  floor: the reference's rows and mappings kept as COPY files (${sizes}) and unlogged staging tables in ${secs(performance.now() - t)} (not timed); each line below: empty tables after a CHECKPOINT, one transaction`);

  const lines: FloorLine[] = [];
  try {
    for (const mappings of [false, true]) {
      for (const method of ['COPY', 'INSERT … SELECT'] as const) {
        await resetFloor(targetUrl, plan);
        const c = new pg.Client({ connectionString: targetUrl });
        await c.connect();
        let ms: number;
        let serverCpuS: number | null;
        try {
          const before = await cpu.seconds();
          t = performance.now();
          await c.query('BEGIN');
          if (method === 'COPY') {
            await pipeline(createReadStream(rowsFile), c.query(copyFrom(`COPY ${table} (${sql.targetColumns}) FROM STDIN`)));
            if (mappings) await pipeline(createReadStream(mappingsFile), c.query(copyFrom(`COPY ferry_control.migration_mappings (${MAPPING_COLUMNS}) FROM STDIN`)));
          } else {
            await c.query(`INSERT INTO ${table} (${sql.targetColumns}) SELECT ${sql.targetColumns} FROM ${FLOOR_ROWS}`);
            if (mappings) await c.query(`INSERT INTO ferry_control.migration_mappings (${MAPPING_COLUMNS}) SELECT ${MAPPING_COLUMNS} FROM ${FLOOR_MAPPINGS}`);
          }
          await c.query('COMMIT');
          ms = performance.now() - t;
          const after = await cpu.seconds();
          serverCpuS = after === null || before === null ? null : after - before;
        } catch (e) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw e;
        } finally {
          await c.end();
        }
        const label = `floor ${mappings ? 'target+mappings' : 'target only'}, ${method}`;
        if (mappings) await verify(targetUrl, plan, controlId, rows, label);
        else {
          const got = await withClient(targetUrl, (c2) =>
            c2.query<{ rows: string; mappings: string }>(`SELECT (SELECT count(*) FROM ${table}) AS rows, (SELECT count(*) FROM ferry_control.migration_mappings) AS mappings`),
          );
          const r = got.rows[0]!;
          if (Number(r.rows) !== rows || Number(r.mappings) !== 0) throw new BenchError(`${label}: wrong counts: ${r.rows} target rows, ${r.mappings} mappings; expected ${fmt(rows)} and 0`);
        }
        lines.push({ mappings, method, ms, serverCpu: serverCpuS });
        say(`  ${label.padEnd(40)}  ${secs(ms).padStart(9)}  ${fmt((rows / ms) * 1000).padStart(9)} rows/s   counts OK   (CPU: PostgreSQL server ${cpuText(serverCpuS)})`);
      }
    }
  } finally {
    await withClient(targetUrl, async (c) => {
      await c.query(`TRUNCATE ${table}, ferry_control.migration_mappings`);
      await c.query(`DROP TABLE IF EXISTS ${FLOOR_ROWS}, ${FLOOR_MAPPINGS}`);
    }).catch(() => undefined);
    await rm(rowsFile, { force: true });
    await rm(mappingsFile, { force: true });
  }
  return { lines, target: fasterOf(lines.filter((l) => !l.mappings)), withMappings: fasterOf(lines.filter((l) => l.mappings)) };
}

/** Issue 17's goal: ferry ÷ pgloader ≤ 0.6. */
const PEER_GOAL = 0.6;

/** The floor against the ÷ pgloader goal: the time ferry would need, from pgloader's measured time. */
function floorLine(floor: Floor, peerMs: number | null): string {
  const part = (l: FloorLine) => `${secs(l.ms)} (${l.method})`;
  const head = `floor (server ingest only): target ${part(floor.target)}, target+mappings ${part(floor.withMappings)}`;
  if (peerMs === null) return `${head}; no pgloader time to hold it against (--no-peer)`;
  return (
    `${head}; the ÷pgloader ${PEER_GOAL} goal needs ferry ≤ ${secs(PEER_GOAL * peerMs)}` +
    ` (floor ÷ pgloader: target ${fmt(floor.target.ms / peerMs, 2)}, target+mappings ${fmt(floor.withMappings.ms / peerMs, 2)})`
  );
}

// ── one size ───────────────────────────────────────────────────────────────────────────────

interface SizeResult {
  rows: number;
  referenceMs: number;
  /** pgloader per P (its concurrency = P), in the order of opts.parallel; empty with --no-peer. */
  peer: Array<{ parallel: number; ms: number; retried: string | null; cpu: { pgloader: number | null; server: number | null } }>;
  ferry: Array<FerryFigures & { parallel: number; serverCpu: number | null }>;
  /** The server's ingest floor (measureFloor); null with --no-floor. */
  floor: Floor | null;
}

async function benchSize(server: EmbeddedServer, rows: number, opts: Options, reference: Reference, work: string, cpu: ServerCpu): Promise<SizeResult> {
  say(`\n── ${fmt(rows)} rows ── (load average ${loadavg().map((l) => fmt(l, 1)).join(' ')} on ${availableParallelism()} CPUs)`);
  const legacy = `legacy_${rows}`;
  const target = `target_${rows}`;
  await dropDatabases(server, [legacy, target]);
  const sourceUrl = server.url(legacy);
  const targetUrl = server.url(target);
  let t = performance.now();
  await seed(server, legacy, target, rows);
  say(`  seeded: dispatch_role has ${fmt(rows)} rows under group_id = ${TECHNICIAN_GROUP_ID} (31 role names in turn) + 22 of other groups, in ${secs(performance.now() - t)}`);
  const conn = await openConnections(sourceUrl, targetUrl);
  try {
    t = performance.now();
    const made = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
    // The plan's batch size is the orchestrator's upper bound (it sizes batches by bytes below
    // it); the bench makes sure it is at least BATCH_SIZE, whatever the planner chose.
    const chosen = made.plan.strategy.batchSize;
    const plan = approvePlan({ ...made.plan, strategy: { ...made.plan.strategy, batchSize: Math.max(chosen, BATCH_SIZE) } }, 'bench');
    if (plan.source.rowCount !== rows) throw new BenchError(`the plan sees ${plan.source.rowCount} rows under its filter, expected ${rows}`);
    const program = await prepareProgram({ plan, analysis: made.analysis, dir: join(work, `program-${rows}`) });
    const targetTable = targetTableOf(plan, made.analysis);
    const sql = referenceSql(plan, targetTable);
    say(`  planned, approved and bundled in ${secs(performance.now() - t)}; plan.strategy.batchSize ${chosen >= BATCH_SIZE ? `${fmt(chosen)} as planned` : `raised to ${fmt(BATCH_SIZE)} (the planner chose ${fmt(chosen)})`}, an upper bound for the orchestrator`);

    await resetTarget(targetUrl, plan);
    t = performance.now();
    const controlId = await withClient(targetUrl, (c) => insertControl(c, plan, contentHash(plan)));
    const serverBefore = await cpu.seconds();
    await reference.run(sql, sourceUrl, targetUrl, controlId);
    const serverAfter = await cpu.seconds();
    await withClient(targetUrl, (c) => finishControl(c, controlId, { status: 'completed' }));
    const referenceMs = performance.now() - t;
    await verify(targetUrl, plan, controlId, rows, 'reference');
    say(`  reference        ${secs(referenceMs).padStart(9)}  ${fmt((rows / referenceMs) * 1000).padStart(9)} rows/s   counts OK   (CPU: PostgreSQL server ${cpuText(serverAfter === null || serverBefore === null ? null : serverAfter - serverBefore)})`);

    const floor = opts.floor ? await measureFloor({ targetUrl, plan, sql, controlId, rows, work, cpu }) : null;
    if (floor && !opts.peer) say(`  ${floorLine(floor, null)}`);

    const peers: SizeResult['peer'] = [];

    const planPath = join(work, `plan-${rows}.json`);
    const analysisPath = join(work, `analysis-${rows}.json`);
    await writeFile(planPath, JSON.stringify(plan));
    await writeFile(analysisPath, JSON.stringify(made.analysis));
    const ferry: SizeResult['ferry'] = [];
    for (const p of opts.parallel) {
      let peer: SizeResult['peer'][number] | null = null;
      if (opts.peer) {
        const r = await runPeer({ sql, sourceUrl, targetUrl, plan, rows, work, concurrency: p, server: cpu });
        await verify(targetUrl, plan, r.migrationId, rows, 'pgloader');
        peer = { parallel: p, ms: r.ms, retried: r.retried, cpu: r.cpu };
        peers.push(peer);
        say(
          `  pgloader c=${p}     ${secs(r.ms).padStart(9)}  ${fmt((rows / r.ms) * 1000).padStart(9)} rows/s   counts OK${r.retried ? '   (retried once after a crash)' : ''}` +
            `   (workers = ${peerWorkers(p)}, concurrency = ${p}; CPU: pgloader ${cpuText(r.cpu.pgloader)}, PostgreSQL server ${cpuText(r.cpu.server)})`,
        );
        if (floor) say(`  ${floorLine(floor, r.ms)}`);
      }
      await resetTarget(targetUrl, plan);
      const label = `ferry P=${p}`;
      const serverBefore = await cpu.seconds();
      const f = await runFerry({ sourceUrl, targetUrl, planPath, analysisPath, bundle: program.bundle, parallel: p, rows, label, sandboxTimeoutMs: BENCH_SANDBOX_TIMEOUT_MS }, work);
      const serverAfter = await cpu.seconds();
      const serverCpuS = serverAfter === null || serverBefore === null ? null : serverAfter - serverBefore;
      await verify(targetUrl, plan, f.migrationId, rows, label);
      ferry.push({ ...f, parallel: p, serverCpu: serverCpuS });
      say(
        `  ${label.padEnd(15)}  ${secs(f.ms).padStart(9)}  ${fmt((rows / f.ms) * 1000).padStart(9)} rows/s   ratio ${fmt(f.ms / referenceMs, 2)}` +
          `${peer ? `   ÷ pgloader ${fmt(f.ms / peer.ms, 2)}` : ''}   counts OK`,
      );
      say(
        `    memory: orchestrator process RSS ${mib(f.rssBefore)} at the start of the run, ${mib(f.rssPeak)} peak (kernel VmHWM; ${mib(f.rssSampled)} sampled); ` +
          `sandbox peak ${mib(f.peakMemoryBytes)}`,
      );
      say(
        `    heap: V8 heap used ${mib(f.memory.heapUsed)} peak (heap total ${mib(f.memory.heapTotal)}), external ${mib(f.memory.external)}, array buffers ${mib(f.memory.arrayBuffers)}; ` +
          `${fmt(f.batches)} batches (${fmt(rows / Math.max(1, f.batches))} rows each); target connection busy ${secs(f.targetBusyMs)} (${fmt((100 * f.targetBusyMs) / f.ms)}% of the run)`,
      );
      const sched = (x: { onCpu: number; waiting: number } | null) => (x === null ? '?' : `on a CPU ${secs(x.onCpu * 1000)}, runnable but waiting for a CPU ${secs(x.waiting * 1000)}`);
      say(`    scheduler: target backend ${sched(f.sched.target)}; ferry's main thread ${sched(f.sched.main)}`);
      say(`    heap settings: ${f.heap.applied ?? `none set (${f.heap.reason})`}, as ferry run sets them for its ranges (src/cli/heap.ts, runGrowingPercent); node flags: ${f.heap.execArgv.join(' ') || 'none'}`);
      say(
        `    sandbox: ${f.sandboxes} start(s) ${secs(f.startMs)}, some batch in the sandbox ${secs(f.sandboxBusyMs)} (${fmt((100 * f.sandboxBusyMs) / f.ms)}% of the run); ` +
          `extra connections ${f.extraConnections}`,
      );
      // Validation at scale: every row through the key remap, against the migration it checks.
      t = performance.now();
      const report = await validateMigration({ migrationId: f.migrationId, source: conn.source, target: conn.target, targetTable });
      const validateMs = performance.now() - t;
      if (report.status !== 'passed') throw new BenchError(`${label}: validation failed: ${JSON.stringify(report.checks.filter((c) => c.status === 'fail')).slice(0, 600)}`);
      say(`    validation (${report.method ?? 'range checksums'}): ${secs(validateMs)}, ${fmt((100 * validateMs) / f.ms)}% of the migration's own time (goal ≤ 20%), passed`);
      say(
        `    CPU during the run: orchestrator process ${cpuText(f.cpu.orchestrator)}, source backend ${cpuText(f.cpu.source)}, target backend ${cpuText(f.cpu.target)}` +
          `${p > 1 ? ' (main connections only)' : ''}; PostgreSQL server, every process: ${cpuText(serverCpuS)}; sandbox container(s) ${cpuText(f.sandboxCpu)}`,
      );
      const total = serverCpuS === null || f.sandboxCpu === null ? null : f.cpu.orchestrator + f.sandboxCpu + serverCpuS;
      const peerTotal = peer?.cpu.pgloader != null && peer.cpu.server !== null ? peer.cpu.pgloader + peer.cpu.server : null;
      say(
        `    CPU in all: ferry (orchestrator + sandbox + server) ${cpuText(total)}` +
          `${peerTotal !== null ? `, pgloader (its process + server) ${cpuText(peerTotal)}; ferry ÷ pgloader in CPU ${total === null ? '?' : fmt(total / peerTotal, 2)}` : ''}`,
      );
    }
    return { rows, referenceMs, peer: peers, ferry, floor };
  } finally {
    await conn.close();
    await dropDatabases(server, [legacy, target]).catch(() => undefined);
  }
}

/** The settings the bench's server runs with, as the server reports them. */
async function printSettings(server: EmbeddedServer): Promise<void> {
  const got = await withClient(server.url('postgres'), (c) =>
    c.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, current_setting(name) AS setting, unit FROM pg_settings WHERE name = ANY($1::text[]) ORDER BY name`,
      [SHOWN_SETTINGS],
    ),
  );
  say(`server: embedded PostgreSQL ${await withClient(server.url('postgres'), async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v)}, loopback TCP; ${got.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}`);
}

/** Which code was measured: the commit, and whether the orchestrator had uncommitted changes. */
async function sourceState(): Promise<string> {
  try {
    const head = (await run('git', ['rev-parse', '--short', 'HEAD'])).stdout.trim();
    const dirty = (await run('git', ['status', '--porcelain', '--', 'src', 'sandbox', 'agents'])).stdout.split('\n').filter(Boolean).length;
    return `code: ${head}${dirty ? ` + ${dirty} uncommitted file(s) under src/ sandbox/ agents/` : ''}`;
  } catch {
    return 'code: (not a git checkout)';
  }
}

// ── main ───────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const docker = new DockerDriver();
  const available = await docker.available();
  if (!available.ok) throw new BenchError(`Docker is needed for this benchmark: ${available.reason}`);
  const reference = await chooseReference(opts.reference);
  say(`ferry bulk benchmark — ${available.detail}; policy ${defaultPolicy.memoryBytes / 2 ** 20} MB, ${defaultPolicy.cpus} CPU, session limit ${BENCH_SANDBOX_TIMEOUT_MS / 60_000} min (default ${defaultPolicy.timeoutMs / 60_000}); Node ${process.version}`);
  say(`sizes ${opts.sizes.map((n) => fmt(n)).join(', ')}; ferry with parallel ${opts.parallel.join(', ')}; ${await sourceState()}`);
  say(`reference: ${reference.label}`);
  if (opts.peer) say(`peer: ${await ensurePgloader()} (Debian's package), the transform as a view on the source, the mappings by AFTER LOAD statements`);
  say('starting an embedded PostgreSQL…');
  // Loopback TCP: pgloader reaches the server the way a user's would.
  const server = await startEmbeddedPostgres({ tcp: true, settings: SERVER_SETTINGS });
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-bulk-'));
  const results: SizeResult[] = [];
  try {
    await printSettings(server);
    const cpu = await serverCpu(server);
    for (const rows of opts.sizes) results.push(await benchSize(server, rows, opts, reference, work, cpu));
  } finally {
    await server.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
  say('\nsummary (ferry ÷ reference, ferry ÷ pgloader, orchestrator RSS peak, sandbox peak):');
  for (const r of results) {
    const peerOf = (p: number) => r.peer.find((x) => x.parallel === p);
    const each = r.ferry.map((f) => {
      const peer = peerOf(f.parallel);
      return `P=${f.parallel} ${fmt(f.ms / r.referenceMs, 2)}×${peer ? ` / ${fmt(f.ms / peer.ms, 2)}×` : ''} (${mib(f.rssPeak)}, ${mib(f.peakMemoryBytes)})`;
    });
    say(`  ${fmt(r.rows).padStart(9)} rows: ${each.join(', ')}${r.peer.some((x) => x.retried) ? '; pgloader was retried once after a crash' : ''}`);
  }
  const largest = results.reduce((a, b) => (b.rows >= a.rows ? b : a));
  const first = largest.ferry[0]!;
  say(
    `goals at 1,000,000 rows with P=1: ratio ≤ 1.2, ferry ÷ pgloader ≤ 0.6, orchestrator RSS ≤ 200 MiB, sandbox ≤ 128 MiB. ` +
      `below: ${fmt(largest.rows)} rows, P=${first.parallel}; load average ${loadavg().map((l) => fmt(l, 1)).join(' ')}`,
  );
  say(`orchestrator RSS peak: ${mib(first.rssPeak)}; sandbox peak: ${mib(first.peakMemoryBytes)}`);
  // One line per P, each against pgloader with its concurrency set to the same P.
  for (const f of largest.ferry) {
    const peer = largest.peer.find((x) => x.parallel === f.parallel);
    if (peer) say(`ferry ÷ pgloader: ${(f.ms / peer.ms).toFixed(2)} (P=${f.parallel}; pgloader concurrency = ${f.parallel}, workers = ${peerWorkers(f.parallel)}; ${fmt(largest.rows)} rows)`);
  }
  // The floor against the first P's pgloader (the floor is one backend, as P=1 is).
  if (largest.floor) say(`${floorLine(largest.floor, largest.peer.find((x) => x.parallel === first.parallel)?.ms ?? null)}; ${fmt(largest.rows)} rows`);
  say(`ratio: ${(first.ms / largest.referenceMs).toFixed(2)}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof BenchError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
