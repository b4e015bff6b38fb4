import Dockerode from 'dockerode';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { approvePlan, buildPlan } from '../../agents/planning/index.js';
import { analyzeSchemas, focusSource } from '../../agents/schema-analysis/index.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, targetTableOf, type Connections } from '../../src/chain.js';
import { prepareProgram, type PreparedProgram } from '../../src/chain.js';
import { runMigration, type RunEvent, type RunResult } from '../../src/orchestrator/run-migration.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { validateMigration } from '../../src/validation/validate.js';
import type { BatchOutcome, InputRow, SandboxDriver, SandboxSession, SandboxStartOptions } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * The fault-injection case: a legacy `parts` table of a few thousand rows (group 1 moves,
 * group 2 stays) and a target `items` table with a uuid key, the legacy id kept, and a
 * database default. Small enough to plan in a second, big enough for dozens of batches.
 */
export const FAULT_DESCRIPTION = 'Migrate the parts of group 1 from parts into items';

export const PART_ROWS = 3000;

export function legacyDdl(rows = PART_ROWS): string {
  return `
CREATE TABLE parts (id serial PRIMARY KEY, group_id integer NOT NULL, name text NOT NULL, note text, qty integer);
INSERT INTO parts (group_id, name, note, qty)
  SELECT CASE WHEN g % 7 = 0 THEN 2 ELSE 1 END, 'part ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, g % 100
    FROM generate_series(1, ${rows}) g;
`;
}

export const TARGET_DDL = `
CREATE TABLE items (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_id integer UNIQUE,
  name text NOT NULL,
  note text,
  qty integer,
  created_at timestamptz NOT NULL DEFAULT now()
);
`;

/**
 * Slows every INSERT/COPY statement on items down by `seconds` (a statement trigger), so a
 * run lasts long enough for a process outside it to catch it at a given batch.
 */
export const slowTargetSql = (seconds: number) => `
CREATE OR REPLACE FUNCTION ferry_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(${seconds}); RETURN NULL; END $$;
CREATE TRIGGER ferry_test_slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION ferry_test_slow();
`;

export { runScript };

export function createFaultCase(opts: { rows?: number; legacy?: string; target?: string; prefix?: string } = {}): Promise<DatabasePair> {
  return createDatabasePair(opts.prefix ?? 'fault_', {
    legacy: (url) => runScript(url, opts.legacy ?? legacyDdl(opts.rows)),
    target: (url) => runScript(url, opts.target ?? TARGET_DDL),
  });
}

/** Plans the description, sets the batch size (the upper bound on rows per batch), approves. */
export async function approvedPlan(
  conn: Connections,
  opts: { description?: string; batchSize: number },
): Promise<{ plan: MigrationPlan; analysis: SchemaAnalysis }> {
  const made = await describeToPlan({ description: opts.description ?? FAULT_DESCRIPTION, conn });
  const plan = approvePlan({ ...made.plan, strategy: { ...made.plan.strategy, batchSize: opts.batchSize } }, 'faults');
  return { plan, analysis: made.analysis };
}

/**
 * Plans one named source table (under `column = value`) into one named target table with the
 * rules, no description parsing, sets the batch size and approves: for cases about what runs.
 */
export async function plannedTable(
  pair: DatabasePair,
  opts: { source: string; target: string; filter: { column: string; value: number }; description: string; batchSize: number },
): Promise<{ plan: MigrationPlan; analysis: SchemaAnalysis }> {
  return withConnections(pair, async (conn) => {
    const full = await analyzeSchemas({ source: conn.source, target: conn.target });
    const source = full.source.tables.find((t) => t.name === opts.source)!;
    const target = full.target.tables.find((t) => t.name === opts.target)!;
    const filters = [{ column: opts.filter.column, op: '=' as const, value: opts.filter.value }];
    const focused = await focusSource(full, conn.source, { schema: 'public', table: opts.source, filters });
    const p = await buildPlan({
      description: opts.description,
      intent: { source, target, filters, evidence: ['named by the test'] },
      analysis: focused,
      probe: createPlanProbe(conn.source, conn.target),
    });
    return { plan: approvePlan({ ...p, strategy: { ...p.strategy, batchSize: opts.batchSize } }, 'faults'), analysis: focused };
  });
}

/** One planned table of a fault case, ready once the describe block's beforeAll has run. */
export interface FaultTable {
  driver: SandboxDriver;
  pair: DatabasePair;
  /** A scratch directory for programs, removed afterwards. */
  work: string;
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
}

/**
 * The set-up most single-table fault cases share, as beforeAll/afterAll of the calling describe
 * block: Docker driver, the two databases from `legacy`/`target`, a work directory, and the
 * source planned into the target (plannedTable). Read the fields inside tests, not at collection.
 */
export function useFaultTable(opts: { prefix: string; legacy: string; target: string; table: Parameters<typeof plannedTable>[1] }): FaultTable {
  const t = {} as FaultTable;
  beforeAll(async () => {
    t.driver = await dockerDriverForTests();
    t.pair = await createFaultCase({ prefix: opts.prefix, legacy: opts.legacy, target: opts.target });
    t.work = await mkdtemp(join(tmpdir(), `ferry-${opts.prefix}`));
    Object.assign(t, await plannedTable(t.pair, opts.table));
  });
  afterAll(async () => {
    await t.pair?.drop();
    if (t.work) await rm(t.work, { recursive: true, force: true });
  });
  return t;
}

/** mulberry32: a small seeded PRNG, so a failing random batch can be replayed with FERRY_FAULT_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The run's seed: FERRY_FAULT_SEED when set, else a fresh one. Printed so a failure can be replayed. */
export function faultSeed(label: string): { seed: number; random: () => number; int: (lo: number, hi: number) => number } {
  const fromEnv = process.env.FERRY_FAULT_SEED;
  const seed = fromEnv ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  console.log(`[faults] ${label}: seed ${seed} (replay with FERRY_FAULT_SEED=${seed})`);
  const random = seededRandom(seed);
  return { seed, random, int: (lo, hi) => lo + Math.floor(random() * (hi - lo + 1)) };
}

/** Events the lead's contract adds (resumed) are read loosely, so this compiles before and after it lands. */
export type LooseEvent = { type: string } & Record<string, unknown>;
export const loose = (e: RunEvent): LooseEvent => e as unknown as LooseEvent;

/** A failed result in one line, for expect messages. */
export function outcome(r: RunResult): string {
  return r.status === 'failed' ? `failed ${r.errorCode}: ${r.error}` : 'completed';
}

/** Source rows under the plan's filter (group 1 of parts unless said otherwise). */
export async function sourceCount(pair: DatabasePair, sql = 'SELECT count(*) AS n FROM parts WHERE group_id = 1'): Promise<number> {
  return Number((await pair.sql('legacy', sql)).rows[0]!.n);
}

export interface Tally {
  source: number;
  target: number;
  mappings: number;
  duplicateLegacyIds: number;
  mappingsWithoutRow: number;
  rowsWithoutMapping: number;
  insertedByRuns: number;
  runningRuns: number;
}

/** Counts that must agree after any fault and a resume, read straight from both databases. */
export async function tally(
  pair: DatabasePair,
  opts: {
    sourceCountSql?: string;
    table?: string;
    sourceTable?: string;
    targetTable?: string;
    /** Rows in the target table not written by ferry (planted by hand before the runs). */
    legacyIdColumn?: string;
  } = {},
): Promise<Tally> {
  const table = opts.table ?? 'items';
  const sourceTable = opts.sourceTable ?? 'public.parts';
  const targetTable = opts.targetTable ?? 'public.items';
  const n = async (db: 'legacy' | 'target', sql: string, params: unknown[] = []) => Number((await pair.sql(db, sql, params)).rows[0]!.n);
  const pairKey = [sourceTable, targetTable];
  // A run refused before it started may never have created ferry's control tables.
  const hasControl = (await pair.sql('target', `SELECT to_regclass('ferry_control.migration_mappings') IS NOT NULL AS ok`)).rows[0]!.ok === true;
  if (!hasControl) {
    const target = await n('target', `SELECT count(*) AS n FROM ${table}`);
    return { source: await sourceCount(pair, opts.sourceCountSql), target, mappings: 0, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: target, insertedByRuns: 0, runningRuns: 0 };
  }
  return {
    source: await sourceCount(pair, opts.sourceCountSql),
    target: await n('target', `SELECT count(*) AS n FROM ${table}`),
    mappings: await n('target', 'SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2', pairKey),
    duplicateLegacyIds: await n(
      'target',
      `SELECT count(*) AS n FROM (SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = $1 AND target_table = $2 GROUP BY legacy_id HAVING count(*) > 1) d`,
      pairKey,
    ),
    mappingsWithoutRow: await n(
      'target',
      `SELECT count(*) AS n FROM ferry_control.migration_mappings m WHERE m.source_table = $1 AND m.target_table = $2 AND NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.id::text = m.new_id)`,
      pairKey,
    ),
    rowsWithoutMapping: await n(
      'target',
      `SELECT count(*) AS n FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM ferry_control.migration_mappings m WHERE m.source_table = $1 AND m.target_table = $2 AND m.new_id = t.id::text)`,
      pairKey,
    ),
    insertedByRuns: await n('target', `SELECT coalesce(sum(rows_inserted), 0) AS n FROM ferry_control.migration_control WHERE source_table = $1 AND target_table = $2 AND status <> 'rolled_back'`, pairKey),
    runningRuns: await n('target', `SELECT count(*) AS n FROM ferry_control.migration_control WHERE source_table = $1 AND target_table = $2 AND status = 'running'`, pairKey),
  };
}

/** Nothing lost, nothing doubled: every source row under the filter once in the target, with exactly one mapping. */
export async function expectExact(pair: DatabasePair, opts: Parameters<typeof tally>[1] & { preexisting?: number } = {}): Promise<Tally> {
  const t = await tally(pair, opts);
  const pre = opts.preexisting ?? 0;
  expect(t, 'counts after the resume').toEqual({
    source: t.source,
    target: t.source + pre,
    mappings: t.source,
    duplicateLegacyIds: 0,
    mappingsWithoutRow: 0,
    rowsWithoutMapping: pre,
    insertedByRuns: t.source,
    runningRuns: 0,
  });
  return t;
}

/** The target keeps the legacy id too: it must be a bijection with the source ids under the filter. */
export async function expectSameLegacyIds(pair: DatabasePair): Promise<void> {
  const src = await keysInOrder(pair);
  const tgt = (await pair.sql('target', 'SELECT legacy_id FROM items WHERE legacy_id IS NOT NULL ORDER BY legacy_id')).rows.map((r) => Number(r.legacy_id));
  expect(tgt.length).toBe(src.length);
  expect(tgt).toEqual(src);
  const mapped = (await pair.sql('target', `SELECT m.legacy_id, t.legacy_id AS kept FROM ferry_control.migration_mappings m JOIN items t ON t.id::text = m.new_id WHERE m.legacy_id <> t.legacy_id::text`)).rows;
  expect(mapped, 'mappings point at the row that keeps their legacy id').toEqual([]);
}

/** Validation over every completed, live run of the pair passes. */
export async function expectValidates(conn: Connections, plan: MigrationPlan, analysis: SchemaAnalysis, migrationId: number): Promise<void> {
  const report = await validateMigration({ migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis) });
  const failing = report.checks.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.summary} ${JSON.stringify(c.problems.slice(0, 3))}`);
  expect(failing, 'validation checks that failed').toEqual([]);
  expect(report.status).toBe('passed');
}

export async function controls(pair: DatabasePair): Promise<Array<{ id: number; status: string; error_code: string | null; rows_inserted: number; batches_committed: number; error: string | null }>> {
  const r = await pair.sql('target', 'SELECT id, status, error_code, error, rows_inserted, batches_committed FROM ferry_control.migration_control ORDER BY id');
  return r.rows.map((x) => ({ ...x, id: Number(x.id) })) as never;
}

export const docker = new Dockerode();

/**
 * Containers of one migration started by one process. Migration ids count from 1 in every
 * test database, so the ferry.migration label alone would also match other test files' runs
 * on the same daemon; the owner pid (this process unless said otherwise) tells them apart.
 */
export async function containersOf(migrationId: number, ownerPid: number = process.pid): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`ferry.migration=${migrationId}`, `ferry.owner.pid=${ownerPid}`] } });
}

/** `docker kill` of the running container of one sandbox session (its ferry.run label is unique). */
export async function killRunContainers(runId: string): Promise<number> {
  const list = (await docker.listContainers({ all: true, filters: { label: [`ferry.run=${runId}`] } })).filter((c) => c.State === 'running');
  for (const c of list) await docker.getContainer(c.Id).kill();
  return list.length;
}

/** Terminates the backends an application name holds on one database (ferry-target / ferry-source). */
export async function terminateBackends(pair: DatabasePair, db: 'legacy' | 'target', applicationName: string): Promise<number> {
  const name = db === 'legacy' ? pair.legacy.name : pair.target.name;
  const r = await pair.sql(
    db,
    'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()',
    [name, applicationName],
  );
  return Number(r.rows[0]!.n);
}

/**
 * A real driver whose sessions call `before(batch)` before sending a batch: the place to
 * inject a death "after batch k committed, before batch k+1", deterministically.
 */
export function withHook(driver: SandboxDriver, before: (batch: number, options: SandboxStartOptions) => Promise<void>): SandboxDriver {
  return wrapSessions(driver, (inner, options) => ({
    transform: async (batch: number, rows: InputRow[]): Promise<BatchOutcome> => {
      await before(batch, options);
      return inner.transform(batch, rows);
    },
  }));
}

/** The driver with each real session's methods passed through, but those `wrap` replaces. */
export function wrapSessions(driver: SandboxDriver, wrap: (inner: SandboxSession, options: SandboxStartOptions) => Partial<Pick<SandboxSession, 'transform' | 'close'>>): SandboxDriver {
  return {
    kind: driver.kind,
    available: () => driver.available(),
    start: async (options: SandboxStartOptions): Promise<SandboxSession> => {
      const inner = await driver.start(options);
      return {
        driver: inner.driver,
        transform: (batch: number, rows: InputRow[]) => inner.transform(batch, rows),
        end: () => inner.end?.(),
        close: () => inner.close(),
        [Symbol.asyncDispose]: () => inner[Symbol.asyncDispose](),
        ...wrap(inner, options),
      };
    },
  };
}

/** Fresh connections for each run: a fault may have killed the previous ones. */
export async function withConnections<T>(pair: DatabasePair, f: (conn: Connections) => Promise<T>): Promise<T> {
  const conn = await openConnections(pair.legacy.url, pair.target.url);
  try {
    return await f(conn);
  } finally {
    await conn.close();
  }
}

export async function waitFor<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export type Attempt = RunResult | { thrown: Error & { code?: string } };

/** A result, or what was thrown, in one line, for expect messages. */
export function describeAttempt(r: Attempt): string {
  return 'thrown' in r ? `threw ${r.thrown.code ?? ''} ${r.thrown.message}`.replace(/\s+/, ' ') : outcome(r);
}

/** The error code of a failed result or of a refusal thrown before the run. */
export function codeOf(r: Attempt): string | null {
  if ('thrown' in r) return r.thrown.code ?? null;
  return r.status === 'failed' ? r.errorCode : null;
}

/** The error message of a failed result or of a refusal thrown before the run; '' for a completed one. */
export function messageOf(r: Attempt): string {
  return 'thrown' in r ? r.thrown.message : r.status === 'failed' ? r.error : '';
}

/** One run on fresh connections; a throw is kept as the result so a test can say what came back. */
export async function runOnce(
  pair: DatabasePair,
  s: { plan: MigrationPlan; analysis: SchemaAnalysis; program: PreparedProgram },
  driver: SandboxDriver,
  events: RunEvent[] = [],
  /** Key-range workers side by side, each on its own connections. */
  parallel = 1,
): Promise<Attempt> {
  return withConnections(pair, (conn) =>
    runMigration({
      ...(parallel > 1 ? { parallel, connect: () => openConnections(pair.legacy.url, pair.target.url) } : {}),
      plan: s.plan,
      analysis: s.analysis,
      bundle: s.program.bundle,
      source: conn.source,
      target: conn.target,
      driver,
      policy: defaultPolicy,
      onEvent: (e) => events.push(e),
    }).then(
      (r) => {
        console.log(`[faults] run ${r.migrationId}: ${outcome(r)}`);
        return r;
      },
      (e: unknown) => {
        console.log(`[faults] run threw: ${(e as Error).message}`);
        return { thrown: e as Error };
      },
    ),
  );
}

/** A fresh plan for the case, approved with this batch size, and its program (written under `dir`). */
export async function prepareCase(pair: DatabasePair, batchSize: number, dir: string): Promise<{ plan: MigrationPlan; analysis: SchemaAnalysis; program: PreparedProgram }> {
  const { plan, analysis } = await withConnections(pair, (conn) => approvedPlan(conn, { batchSize }));
  const program = await prepareProgram({ plan, analysis, dir });
  return { plan, analysis, program };
}

/** Legacy ids under the filter, in key order (the order batches are cut in). */
export async function keysInOrder(pair: DatabasePair): Promise<number[]> {
  return (await pair.sql('legacy', 'SELECT id FROM parts WHERE group_id = 1 ORDER BY id')).rows.map((r) => Number(r.id));
}

/**
 * A random row (seeded under `label`), never in the first batch so something has committed
 * before it: its index in `keys`, its key, and its batch (from 0).
 */
export function pickRow(keys: number[], batchSize: number, label: string): { index: number; key: number; batch: number } {
  const { int } = faultSeed(label);
  const index = int(batchSize, keys.length - 1);
  return { index, key: keys[index]!, batch: Math.floor(index / batchSize) };
}

export function failed(r: Attempt): Extract<RunResult, { status: 'failed' }> {
  if ('thrown' in r || r.status !== 'failed') throw new Error(`expected a failed run, got: ${describeAttempt(r)}`);
  return r;
}

export function completed(r: Attempt): RunResult {
  expect(describeAttempt(r)).toBe('completed');
  return r as RunResult;
}

/** Byte-exact digests (md5 and length of the UTF-8 bytes) of name and note, per legacy id, on both sides. */
export async function digests(pair: DatabasePair): Promise<{ source: string[]; target: string[] }> {
  const q = (key: string) =>
    `${key}::text || ':' || coalesce(md5(convert_to(name, 'UTF8')), '-') || ':' || octet_length(name) || ':' || coalesce(md5(convert_to(note, 'UTF8')), '-') || ':' || coalesce(octet_length(note), -1) AS d`;
  const source = (await pair.sql('legacy', `SELECT ${q('id')} FROM parts WHERE group_id = 1 ORDER BY id`)).rows.map((r) => r.d as string);
  const target = (await pair.sql('target', `SELECT ${q('legacy_id')} FROM items ORDER BY legacy_id`)).rows.map((r) => r.d as string);
  return { source, target };
}
