import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { describeToPlan, openConnections, prepareProgram, type Connections, type PreparedProgram } from '../../src/chain.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { wrapSessions } from '../faults/fault-case.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * A run's validation starts once its rows are final, while Docker reports the program's exit
 * and removes its container (about a tenth of a second the run used to wait first), and its
 * report still counts only when that exit is judged good. Real PostgreSQL, real Docker, on a
 * self-referencing table renamed in the target (crew.lead_no → crew_members.lead): the first run
 * of such a table is validated before its control row says completed, so its own rows must
 * count as the parent's in the relationship check.
 */
const LEGACY = `
CREATE TABLE crew (
  crew_no integer PRIMARY KEY,
  callsign varchar(30) NOT NULL,
  lead_no integer REFERENCES crew(crew_no),
  rating numeric(3,1)
);
INSERT INTO crew VALUES
  (500, 'Maverick', NULL, 9.5), (41, 'Goose', 500, 8.0), (7, 'Iceman', 500, 9.1),
  (130, 'Hollywood', 7, NULL), (12, 'Wolfman', 130, 7.25), (88, 'Rooster', 41, 8.8);
`;
const TARGET = `
CREATE TABLE crew_members (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  callsign text NOT NULL,
  lead uuid REFERENCES crew_members(id),
  rating numeric(3,1)
);
`;

/** The driver with each session's close() held back by `ms` (Docker slow to report an exit), and when each close began and ended. */
function slowExit(driver: SandboxDriver, ms: number, seen: Array<[string, number]>): SandboxDriver {
  return wrapSessions(driver, (inner) => ({
    close: async () => {
      seen.push(['close begun', Date.now()]);
      const [record] = await Promise.all([inner.close(), new Promise((resolve) => setTimeout(resolve, ms))]);
      seen.push(['close ended', Date.now()]);
      return record;
    },
  }));
}

describe('validation beside the sandbox exit (real PostgreSQL, real Docker)', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let driver: SandboxDriver;
  let plan: MigrationPlan;
  let analysis: SchemaAnalysis;
  let program: PreparedProgram;
  let work: string;

  beforeAll(async () => {
    db = await createDatabasePair('vbe_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    driver = await dockerDriverForTests();
    ({ plan, analysis } = await describeToPlan({ description: 'move the rows from crew into crew_members', conn }));
    expect(plan.columns.find((c) => c.target === 'lead')?.origin).toMatchObject({ kind: 'via_mapping', source: 'lead_no' });
    plan = approvePlan(plan, 'test');
    work = await mkdtemp(join(tmpdir(), 'ferry-vbe-'));
    program = await prepareProgram({ plan, analysis, dir: work });
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function controlStatuses(): Promise<string[]> {
    const r = await conn.target.query<{ status: string }>('SELECT status FROM ferry_control.migration_control ORDER BY id');
    return r.rows.map((x) => x.status);
  }

  /** What `ferry rollback` does: the run's rows and mappings deleted, its control row marked. */
  const rollBack = (migrationId: number) => rollbackMigration({ migrationId, target: conn.target, store });

  // Each test starts from an empty target: whatever a test's runs left (an assertion failed first) is rolled back.
  afterEach(async () => {
    const left = await conn.target.query<{ id: string }>("SELECT id FROM ferry_control.migration_control WHERE status IN ('completed', 'failed') ORDER BY id DESC");
    for (const r of left.rows) await rollBack(Number(r.id));
  });

  it('validates while the exit is reported, and keeps the report', async () => {
    const seen: Array<[string, number]> = [];
    const said: Array<[string, number]> = [];
    const { run, report, record } = await executeRunForTest(store, {
      plan, analysis, conn, driver: slowExit(driver, 1500, seen), policy: defaultPolicy, program, say: (line) => said.push([line, Date.now()]),
    });
    expect(run).toMatchObject({ status: 'completed', inserted: 6 });
    expect(record.status).toBe('completed');
    expect(report?.status).toBe('passed');
    expect(report!.checks.find((c) => c.name === 'fk_integrity')?.summary).toBe("6 reference(s) in lead checked through the parents' mappings, 0 orphan(s)");
    // The validation began after the close began and before it ended.
    const began = seen.find(([w]) => w === 'close begun')![1];
    const ended = seen.find(([w]) => w === 'close ended')![1];
    const validating = said.find(([l]) => l.startsWith('🔬 Validation'))![1];
    expect(validating).toBeGreaterThanOrEqual(began);
    expect(validating).toBeLessThan(ended);
    expect(await controlStatuses()).toEqual(['completed']);
  });

  it("the first run of a self-referencing table whose plan leaves the reference empty: its own rows are the parent, and the lost references fail the report", async () => {
    // The person chose lead = NULL: the relationship check must still see that every lead was lost.
    const emptied = approvePlan(await applyOverrides(plan, { column: [{ target: 'lead', origin: 'const:null' }] }, 'test', createPlanProbe(conn.source, conn.target), new Date(), () => true), 'test');
    const emptiedProgram = await prepareProgram({ plan: emptied, analysis, dir: join(work, 'emptied') });
    const { run, report } = await executeRunForTest(store, { plan: emptied, analysis, conn, driver: slowExit(driver, 500, []), policy: defaultPolicy, program: emptiedProgram });
    expect(run).toMatchObject({ status: 'completed', inserted: 6 });
    expect(report?.status).toBe('failed');
    const rel = report!.checks.find((c) => c.name === 'relationships');
    expect(rel).toMatchObject({ status: 'fail', summary: "lead_no → public.crew: 0/5 migrated row(s) with a legacy value point at the parent's migrated row in lead" });
  });

  it('a program that says done and then exits 3: the run fails SANDBOX_ERROR, the validation made beside is dropped, the rows stay for a rollback', async () => {
    // The real program, which after its "done" sets its exit code in an exit handler.
    const bundlePath = program.bundle.path.replace(/\.cjs$/, '-exits-3.cjs');
    await appendFile(bundlePath, (await readFile(program.bundle.path)).toString() + "\nprocess.on('exit', () => { process.exitCode = 3; });\n");
    const bytes = await readFile(bundlePath);
    const exits3: PreparedProgram = { ...program, bundle: { path: bundlePath, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length } };
    const said: string[] = [];
    const { run, report, record } = await executeRunForTest(store, { plan, analysis, conn, driver, policy: defaultPolicy, program: exits3, say: (line) => said.push(line) });
    expect(run).toMatchObject({ status: 'failed', errorCode: 'SANDBOX_ERROR', inserted: 6 });
    expect(run.sandbox).toMatchObject({ exitReason: 'error', exitCode: 3 });
    // The validation did run beside the exit; its report is not the run's.
    expect(said.some((l) => l.startsWith('🔬 Validation'))).toBe(true);
    expect(report).toBeNull();
    expect(record).toMatchObject({ status: 'failed', errorCode: 'SANDBOX_ERROR', reportHash: null });
    expect((await controlStatuses()).at(-1)).toBe('failed');
    // Every row of the failed run is there with its mapping, and its rollback takes exactly them.
    const n = await conn.target.query<{ rows: string; maps: string }>(
      'SELECT (SELECT count(*) FROM crew_members) AS rows, (SELECT count(*) FROM ferry_control.migration_mappings WHERE migration_id = $1) AS maps',
      [run.migrationId],
    );
    expect(n.rows[0]).toEqual({ rows: '6', maps: '6' });
    expect(await rollBack(run.migrationId)).toMatchObject({ rowsDeleted: 6, mappingsDeleted: 6 });
  });
});
