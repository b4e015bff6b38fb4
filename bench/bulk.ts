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
 *  - ferry: the real chain (describeToPlan, approvePlan, prepareProgram), then runMigration
 *    with the Docker driver and the default policy, `parallel: P`. Timed from the call to its
 *    return; counts checked afterwards (rows, mappings, mappings joined to rows).
 *
 * Prints seconds, rows/s, ferry ÷ reference and the sandbox's peak memory. The last line is
 * `ratio: X`: ferry ÷ reference at the largest size for the first P.
 *
 *   npm run bench                         # 100,000 and 1,000,000 rows, P = 1 and 2
 *   npm run bench -- --rows 100000        # one size
 *   npm run bench -- --rows 1e6 --parallel 2
 *
 * Needs a Docker daemon and the sandbox image (`npm run sandbox:image`). Not a test: it
 * checks counts and fails loudly on wrong ones, otherwise it prints figures.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { approvePlan } from '../agents/planning/index.js';
import type { MigrationPlan } from '../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis, TableInfo } from '../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, prepareProgram, targetTableOf, type Connections } from '../src/chain.js';
import { ensureControlTables, finishControl, insertControl, planTables } from '../src/control/control-tables.js';
import { contentHash } from '../src/core/artifacts/hash.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.js';
import { qualified, quoteIdent } from '../src/core/sql.js';
import { planWhere } from '../src/core/plan/filter-sql.js';
import { DEMO_DESCRIPTION, TECHNICIAN_GROUP_ID, TECHNICIAN_ROLES, createLegacyDatabase, createTargetDatabase } from '../src/demo/seed-case.js';
import { validateMigration } from '../src/validation/validate.js';
import { runMigration, type RunEvent } from '../src/orchestrator/run-migration.js';
import { DockerDriver } from '../sandbox/docker-driver.js';
import { defaultPolicy } from '../sandbox/policy.js';
import type { SandboxDriver, SandboxSession, SandboxStartOptions } from '../sandbox/types.js';

/** The least plan.strategy.batchSize the bench runs with (an upper bound: the orchestrator may adapt below it). */
const BATCH_SIZE = 20_000;
const DEFAULT_SIZES = [100_000, 1_000_000];
const DEFAULT_PARALLEL = [1, 2];
const PROGRESS_EVERY_MS = 5_000;

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
  const opts: Options = { sizes: DEFAULT_SIZES, parallel: DEFAULT_PARALLEL, reference: 'auto' };
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
    } else if (flag === '--help' || flag === '-h') {
      say('npm run bench [-- --rows N[,N…]] [--parallel P[,P…]] [--reference psql|node]');
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
  const r = await withClient(url, (c) =>
    c.query<{ rows: string; mappings: string; joined: string }>(
      `SELECT (SELECT count(*) FROM ${qualified(plan.target.schema, plan.target.table)}) AS rows,
              (SELECT count(*) FROM ferry_control.migration_mappings WHERE migration_id = $1) AS mappings,
              (SELECT count(*) FROM ferry_control.migration_mappings m JOIN ${qualified(plan.target.schema, plan.target.table)} t ON t.${pk}::text = m.new_id
                WHERE m.migration_id = $1) AS joined`,
      [migrationId],
    ),
  );
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
  insertRows: string;
  insertMappings: (controlId: number) => string;
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
  return {
    copyOut: `COPY (SELECT ${key}::text, ${staged.map((s) => s.expr).join(', ')} FROM ${from}) TO STDOUT`,
    stagingDdl: `CREATE TEMP TABLE ferry_ref ("ferry legacy key" text, ${staged.map((s) => `${quoteIdent(s.name)} ${s.type}`).join(', ')}) ON COMMIT DROP`,
    copyIn: 'COPY ferry_ref FROM STDIN',
    insertRows: `INSERT INTO ${qualified(plan.target.schema, plan.target.table)} (${names}) SELECT ${names} FROM ferry_ref`,
    insertMappings: (controlId) =>
      `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id)
       SELECT ${controlId}, 1, ${literal(sourceTable)}, "ferry legacy key", ${literal(targetTable)}, ${quoteIdent(pk)}::text FROM ferry_ref`,
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

// ── ferry ──────────────────────────────────────────────────────────────────────────────────

/** The Docker driver, with the time spent starting sessions and waiting for batches summed. */
class TimedDriver implements SandboxDriver {
  readonly kind: 'docker' | 'local';
  startMs = 0;
  transformMs = 0;
  sessions = 0;

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
    const timed: SandboxSession = {
      driver: session.driver,
      transform: async (batch, rows) => {
        const t = performance.now();
        try {
          return await session.transform(batch, rows);
        } finally {
          this.transformMs += performance.now() - t;
        }
      },
      close: () => session.close(),
      [Symbol.asyncDispose]: () => session[Symbol.asyncDispose](),
    };
    return timed;
  }
}

interface FerryFigures {
  ms: number;
  peakMemoryBytes: number | null;
  sandboxes: number;
  startMs: number;
  transformMs: number;
  extraConnections: number;
  /** This process's resident memory when the run started, and its peak while it ran (sampled every 100 ms). */
  rssBefore: number;
  rssPeak: number;
  /**
   * CPU seconds used during the run by this process (orchestrator, pg driver, GC) and by the
   * PostgreSQL backends of the run's own source and target connections (null when /proc is
   * not readable). The workers' extra connections are not counted.
   */
  cpu: { orchestrator: number; source: number | null; target: number | null };
}

/** The server pids behind the run's connections (the embedded server runs on this machine). */
async function backendPids(conn: Connections): Promise<{ source: number; target: number }> {
  const pid = async (c: pg.Client) => Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
  return { source: await pid(conn.source), target: await pid(conn.target) };
}

/** utime + stime of a process from /proc/<pid>/stat, in seconds; null where there is no /proc. */
async function cpuSeconds(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux build that matters here. */
const CLOCK_TICKS = 100;

const diff = (after: number | null, before: number | null) => (after === null || before === null ? null : after - before);

async function runFerry(input: {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  bundle: { path: string; sha256: string };
  conn: Connections;
  parallel: number;
  rows: number;
  label: string;
}): Promise<FerryFigures & { migrationId: number }> {
  const driver = new TimedDriver(new DockerDriver());
  const extra: Connections[] = [];
  let last = performance.now();
  const onEvent = (e: RunEvent) => {
    if (e.type === 'batch_committed' && performance.now() - last >= PROGRESS_EVERY_MS) {
      last = performance.now();
      say(`    ${input.label}: ${fmt(e.inserted)} / ${fmt(input.rows)} rows, ${secs(e.elapsedMs)}`);
    } else if (e.type === 'log' && e.stream === 'stderr') say(`    │ ${e.line}`);
  };
  const runInput = {
    plan: input.plan,
    analysis: input.analysis,
    bundle: input.bundle,
    source: input.conn.source,
    target: input.conn.target,
    driver,
    policy: defaultPolicy,
    onEvent,
    parallel: input.parallel,
    // The extra workers' connections, counted (and closed below should a run leave one open).
    connect: async (): Promise<Connections> => {
      const c = await input.conn.reopen();
      extra.push(c);
      return c;
    },
  };
  const backends = await backendPids(input.conn);
  const cpuBefore = { self: process.cpuUsage(), source: await cpuSeconds(backends.source), target: await cpuSeconds(backends.target) };
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
  try {
    const t0 = performance.now();
    const result = await runMigration(runInput).finally(() => clearInterval(sampler));
    const ms = performance.now() - t0;
    const self = process.cpuUsage(cpuBefore.self);
    const cpu = {
      orchestrator: (self.user + self.system) / 1e6,
      source: diff(await cpuSeconds(backends.source), cpuBefore.source),
      target: diff(await cpuSeconds(backends.target), cpuBefore.target),
    };
    if (result.status !== 'completed') throw new BenchError(`${input.label}: the run failed: ${result.errorCode}: ${result.error}`);
    if (result.inserted !== input.rows) throw new BenchError(`${input.label}: the run reports ${fmt(result.inserted)} rows inserted, expected ${fmt(input.rows)}`);
    return {
      ms,
      migrationId: result.migrationId,
      peakMemoryBytes: result.sandbox?.peakMemoryBytes ?? null,
      sandboxes: driver.sessions,
      startMs: driver.startMs,
      transformMs: driver.transformMs,
      extraConnections: extra.length,
      rssBefore,
      rssPeak,
      cpu,
    };
  } finally {
    // The orchestrator closes what it opened; this only makes sure nothing outlives the run.
    await Promise.allSettled(extra.map((c) => c.close()));
  }
}

// ── one size ───────────────────────────────────────────────────────────────────────────────

interface SizeResult {
  rows: number;
  referenceMs: number;
  ferry: Array<FerryFigures & { parallel: number }>;
}

async function benchSize(server: EmbeddedServer, rows: number, opts: Options, reference: Reference, work: string): Promise<SizeResult> {
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
    await reference.run(sql, sourceUrl, targetUrl, controlId);
    await withClient(targetUrl, (c) => finishControl(c, controlId, { status: 'completed' }));
    const referenceMs = performance.now() - t;
    await verify(targetUrl, plan, controlId, rows, 'reference');
    say(`  reference        ${secs(referenceMs).padStart(9)}  ${fmt((rows / referenceMs) * 1000).padStart(9)} rows/s   counts OK`);

    const ferry: SizeResult['ferry'] = [];
    for (const p of opts.parallel) {
      await resetTarget(targetUrl, plan);
      const label = `ferry P=${p}`;
      const f = await runFerry({ plan, analysis: made.analysis, bundle: program.bundle, conn, parallel: p, rows, label });
      await verify(targetUrl, plan, f.migrationId, rows, label);
      ferry.push({ ...f, parallel: p });
      say(
        `  ${label.padEnd(15)}  ${secs(f.ms).padStart(9)}  ${fmt((rows / f.ms) * 1000).padStart(9)} rows/s   ratio ${fmt(f.ms / referenceMs, 2)}   ` +
          `sandbox peak ${mib(f.peakMemoryBytes)}   counts OK`,
      );
      say(
        `    time in the sandbox: ${f.sandboxes} start(s) ${secs(f.startMs)}, waiting for batches ${secs(f.transformMs)} (${fmt((100 * f.transformMs) / f.ms)}% of the run); ` +
          `extra connections ${f.extraConnections}`,
      );
      // Validation at scale: every row through the key remap, against the migration it checks.
      t = performance.now();
      const report = await validateMigration({ migrationId: f.migrationId, source: conn.source, target: conn.target, targetTable });
      const validateMs = performance.now() - t;
      if (report.status !== 'passed') throw new BenchError(`${label}: validation failed: ${JSON.stringify(report.checks.filter((c) => c.status === 'fail')).slice(0, 600)}`);
      say(`    validation (${report.method ?? 'range checksums'}): ${secs(validateMs)}, ${fmt((100 * validateMs) / f.ms)}% of the migration's own time (goal ≤ 20%), passed`);
      const cpuOf = (x: number | null) => (x === null ? '?' : secs(x * 1000));
      say(
        `    CPU during the run: orchestrator process ${cpuOf(f.cpu.orchestrator)}, source backend ${cpuOf(f.cpu.source)}, target backend ${cpuOf(f.cpu.target)}` +
          `${p > 1 ? ' (main connections only)' : ''}; orchestrator RSS ${mib(f.rssBefore)} before, ${mib(f.rssPeak)} peak`,
      );
    }
    return { rows, referenceMs, ferry };
  } finally {
    await conn.close();
    await dropDatabases(server, [legacy, target]).catch(() => undefined);
  }
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
  say(`ferry bulk benchmark — ${available.detail}; policy ${defaultPolicy.memoryBytes / 2 ** 20} MB, ${defaultPolicy.cpus} CPU; Node ${process.version}`);
  say(`sizes ${opts.sizes.map((n) => fmt(n)).join(', ')}; ferry with parallel ${opts.parallel.join(', ')}; ${await sourceState()}`);
  say(`reference: ${reference.label}`);
  say('starting an embedded PostgreSQL…');
  const server = await startEmbeddedPostgres();
  const work = await mkdtemp(join(tmpdir(), 'ferry-bench-bulk-'));
  const results: SizeResult[] = [];
  try {
    for (const rows of opts.sizes) results.push(await benchSize(server, rows, opts, reference, work));
  } finally {
    await server.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
  say('\nsummary (ferry ÷ reference, sandbox peak memory):');
  for (const r of results) {
    say(`  ${fmt(r.rows).padStart(9)} rows: ${r.ferry.map((f) => `P=${f.parallel} ${fmt(f.ms / r.referenceMs, 2)}× (${mib(f.peakMemoryBytes)})`).join(', ')}`);
  }
  const largest = results.reduce((a, b) => (b.rows >= a.rows ? b : a));
  const first = largest.ferry[0]!;
  say(`goal: ≤ 1.5 at 1,000,000 rows with P=1; sandbox peak ≤ 256 MiB. ratio below: ${fmt(largest.rows)} rows, P=${first.parallel}`);
  say(`ratio: ${(first.ms / largest.referenceMs).toFixed(2)}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof BenchError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
