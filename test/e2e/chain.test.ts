import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { bundleScript, generateScript } from '../../agents/code-interpreter/index.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, prepareProgram, type Connections } from '../../src/chain.js';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { runMigration } from '../../src/orchestrator/run-migration.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver, SandboxStartOptions } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';

/** A real driver that counts the sandboxes it was asked to start. */
function counting(driver: SandboxDriver): SandboxDriver & { starts: number } {
  const c = {
    kind: driver.kind,
    starts: 0,
    available: () => driver.available(),
    start: (o: SandboxStartOptions) => {
      c.starts += 1;
      return driver.start(o);
    },
  };
  return c;
}

async function counts(seed: SeedCase) {
  const q = async (sql: string) => Number((await seed.sql('target', sql)).rows[0]?.n);
  return {
    roles: await q('SELECT count(*) AS n FROM technician_roles'),
    mappings: await q('SELECT count(*) AS n FROM ferry_control.migration_mappings'),
  };
}

describe('the chain end to end: technician_roles on real PostgreSQL and a real Docker sandbox', () => {
  let seed: SeedCase;
  let conn: Connections;
  let analysis: SchemaAnalysis;
  let plan: MigrationPlan;
  let driver: SandboxDriver;
  let work: string;
  let store: RunStore;

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    seed = await createSeedCase();
    conn = await openConnections(seed.legacy.url, seed.target.url);
    store = await RunStore.open(seed.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-e2e-'));
    const made = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
    analysis = made.analysis;
    plan = approvePlan(made.plan, 'e2e');
    // executeRun runs only what the store holds an approval for, as `ferry approve` records it.
    await store.savePlan(plan, analysis);
  });
  // Every test starts from a target with nothing of ferry's in it (every earlier run rolled
  // back) and makes the runs it needs itself: any test runs alone, in any order.
  beforeEach(async () => {
    await rollbackAll(seed, conn);
  });
  const runOnce = async (dir: string) => {
    const program = await prepareProgram({ plan, analysis, dir: join(work, dir) });
    return executeRunForTest(store, { plan, analysis, program, conn, driver, policy: defaultPolicy });
  };
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await seed?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('migrates the 31 roles of group 11 and validates every row: 31/31/31, 21/3/4/2/1', async () => {
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p1') });
    expect(program.script.typecheck.ok).toBe(true);
    const { run, report } = await executeRunForTest(store, { plan, analysis, program, conn, driver, policy: defaultPolicy });
    expect(run).toMatchObject({ status: 'completed', sourceRows: 31, inserted: 31, skipped: 0 });
    expect(run.sandbox).toMatchObject({ driver: 'docker', exitReason: 'ok', rowsIn: 31, rowsOut: 31 });
    expect(report?.status).toBe('passed');
    expect(report?.counts).toMatchObject({ source: 31, migrated: 31, mappings: 31, insertedByRun: 31 });
    const dist = Object.fromEntries(report!.distributions[0]!.values.map((v) => [v.value, v.count]));
    expect(dist).toEqual({ manufacturing: 21, designing: 3, sectioning: 4, remote: 2, master: 1 });
    // Other groups stayed where they were.
    const moved = await seed.sql('target', 'SELECT role_name FROM technician_roles');
    expect(moved.rows.map((r) => r.role_name)).not.toContain('Remote Support Agent');
    const control = await seed.sql('target', 'SELECT status, rows_inserted, rows_source FROM ferry_control.migration_control WHERE id = $1', [run.migrationId]);
    expect(control.rows[0]).toEqual({ status: 'completed', rows_inserted: 31, rows_source: 31 });
  });

  it('inserts nothing the second time, and says so', async () => {
    expect((await runOnce('p2-first')).run).toMatchObject({ status: 'completed', inserted: 31 });
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p2') });
    const { run, report } = await executeRunForTest(store, { plan, analysis, program, conn, driver, policy: defaultPolicy });
    expect(run).toMatchObject({ status: 'completed', inserted: 0, skipped: 31, batches: 0 });
    expect(report?.status).toBe('passed');
    expect(await counts(seed)).toEqual({ roles: 31, mappings: 31 });
  });

  it('rolls back exactly the rows a run inserted, and the plan can run again', async () => {
    expect((await runOnce('p3-first')).run).toMatchObject({ status: 'completed', inserted: 31 });
    // A row ferry did not write must survive the rollback.
    await seed.sql(
      'target',
      `INSERT INTO technician_roles (technician_id, role_type, role_name) VALUES ('5d1f0c2e-7b3a-4e8f-9c6d-1a2b3c4d5e02', 'master', 'Hand-made role')`,
    );
    const first = await seed.sql('target', `SELECT id FROM ferry_control.migration_control WHERE status = 'completed' AND rows_inserted = 31`);
    const id = Number(first.rows[0]!.id);
    const r = await rollbackMigration({ migrationId: id, target: conn.target });
    expect(r).toMatchObject({ status: 'rolled_back', rowsDeleted: 31, mappingsDeleted: 31 });
    expect(await counts(seed)).toEqual({ roles: 1, mappings: 0 });
    const control = await seed.sql('target', 'SELECT status, rows_rolled_back FROM ferry_control.migration_control WHERE id = $1', [id]);
    expect(control.rows[0]).toEqual({ status: 'rolled_back', rows_rolled_back: 31 });
    expect(await rollbackMigration({ migrationId: id, target: conn.target })).toMatchObject({ status: 'already_rolled_back' });

    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p3') });
    const { run, report } = await executeRunForTest(store, { plan, analysis, program, conn, driver, policy: defaultPolicy });
    expect(run).toMatchObject({ status: 'completed', inserted: 31 });
    expect(report?.status).toBe('passed');
    expect(report?.counts.targetTotal).toBe(32);
    await seed.sql('target', `DELETE FROM technician_roles WHERE role_name = 'Hand-made role'`);
  });

  it('refuses to run a plan that is not approved', async () => {
    const draft: MigrationPlan = { ...plan, status: 'draft' };
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p4') });
    await expect(runMigration({ plan: draft, analysis, bundle: program.bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy })).rejects.toMatchObject({
      code: 'PLAN_NOT_APPROVED',
    });
  });

  it('rejects a program naming a column that does not exist before any container starts', async () => {
    // Rows left to migrate, or a run (even the good one) would start no sandbox at all.
    await rollbackAll(seed, conn);
    const watched = counting(driver);
    const base = await generateScript({ plan, analysis });
    const broken = base.program.replace(/row\.name\b/, 'row.role_title');
    expect(broken).not.toBe(base.program);
    // The whole way from a program to the sandbox, with the counting driver as the one that would run it.
    const runProgram = async (program: string, dir: string) => {
      const script = await generateScript({ plan, analysis, programOverride: program });
      const bundle = await bundleScript(script, join(work, dir));
      return runMigration({ plan, analysis, bundle, source: conn.source, target: conn.target, driver: watched, policy: defaultPolicy, dryRun: true });
    };
    // The counter is on that way: the unchanged program, dry, starts exactly one sandbox.
    expect((await runProgram(base.program, 'control')).status).toBe('completed');
    expect(watched.starts).toBe(1);
    await expect(runProgram(broken, 'broken')).rejects.toMatchObject({ code: 'PROGRAM_TYPECHECK_FAILED' });
    await expect(runProgram(broken, 'broken-again')).rejects.toThrowError(/role_title/);
    expect(watched.starts).toBe(1);
  });

  describe('a failing batch leaves nothing behind', () => {
    it('a row the plan does not agree with fails its batch, naming the key; earlier batches stay whole', async () => {
      await rollbackAll(seed, conn);
      // Smaller batches are another plan version, approved on record like the first.
      const small: MigrationPlan = { ...plan, revision: plan.revision + 1, strategy: { ...plan.strategy, batchSize: 10 } };
      await store.savePlan(small);
      const base = await generateScript({ plan: small, analysis });
      // A forged program: sends one role of the second batch to the wrong enum value.
      const keyRow = await seed.sql('legacy', `SELECT id FROM dispatch_role WHERE group_id = 11 ORDER BY id OFFSET 14 LIMIT 1`);
      const badKey = Number(keyRow.rows[0]!.id);
      const forged = base.program.replace(
        /export function transform\(row: SourceRow\): ProgramOutput \{/,
        (m) => `${m}\n  if (row.id === ${badKey}) return { ...transformInner(row), role_type: 'remote' };\n  return transformInner(row);\n}\nfunction transformInner(row: SourceRow): ProgramOutput {`,
      );
      expect(forged).not.toBe(base.program);
      const script = await generateScript({ plan: small, analysis, programOverride: forged });
      const bundle = await bundleScript(script, join(work, 'forged'));
      const run = await runMigration({ plan: small, analysis, bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy });
      expect(run.status).toBe('failed');
      if (run.status !== 'failed') return;
      expect(run.errorCode).toBe('ROW_MISMATCH');
      expect(run.key).toBe(String(badKey));
      expect(run.error).toContain(String(badKey));
      expect(run.inserted).toBe(10);
      expect(await counts(seed)).toEqual({ roles: 10, mappings: 10 });
      const control = await seed.sql('target', 'SELECT status, error_code, error, rows_inserted FROM ferry_control.migration_control WHERE id = $1', [run.migrationId]);
      expect(control.rows[0]).toMatchObject({ status: 'failed', error_code: 'ROW_MISMATCH', rows_inserted: 10 });
      // No orphans either way.
      const orphans = await seed.sql(
        'target',
        `SELECT (SELECT count(*) FROM ferry_control.migration_mappings m WHERE NOT EXISTS (SELECT 1 FROM technician_roles t WHERE t.id = m.new_id::uuid))
              + (SELECT count(*) FROM technician_roles t WHERE NOT EXISTS (SELECT 1 FROM ferry_control.migration_mappings m WHERE m.new_id::uuid = t.id)) AS n`,
      );
      expect(Number(orphans.rows[0]!.n)).toBe(0);

      // The honest program picks up where the failed run stopped.
      const good = await prepareProgram({ plan: small, analysis, dir: join(work, 'good') });
      const { run: again, report } = await executeRunForTest(store, { plan: small, analysis, program: good, conn, driver, policy: defaultPolicy });
      expect(again).toMatchObject({ status: 'completed', inserted: 21, skipped: 10 });
      expect(report?.status).toBe('passed');
    });

    it('a constraint violation in the target rolls the whole batch back and says which constraint', async () => {
      await rollbackAll(seed, conn);
      await seed.sql('target', `ALTER TABLE technician_roles ADD CONSTRAINT no_hawley CHECK (role_name <> 'MT-Hawley')`);
      try {
        const program = await prepareProgram({ plan, analysis, dir: join(work, 'constraint') });
        const { run } = await executeRunForTest(store, { plan, analysis, program, conn, driver, policy: defaultPolicy });
        expect(run.status).toBe('failed');
        if (run.status !== 'failed') return;
        expect(run.errorCode).toBe('BATCH_WRITE_FAILED');
        expect(run.error).toContain('no_hawley');
        const hawley = await seed.sql('legacy', `SELECT id FROM dispatch_role WHERE name = 'MT-Hawley'`);
        expect(run.key).toBe(String(hawley.rows[0]!.id));
        expect(run.error).toContain(`legacy key ${String(hawley.rows[0]!.id)}`);
        expect(await counts(seed)).toEqual({ roles: 0, mappings: 0 });
      } finally {
        await seed.sql('target', 'ALTER TABLE technician_roles DROP CONSTRAINT no_hawley');
      }
    });
  });
});

async function rollbackAll(seed: SeedCase, conn: Connections): Promise<void> {
  // Before the first run the control tables do not exist yet: nothing to roll back.
  const exists = await seed.sql('target', `SELECT to_regclass('ferry_control.migration_control') IS NOT NULL AS ok`);
  if (!exists.rows[0]!.ok) return;
  const runs = await seed.sql('target', `SELECT id FROM ferry_control.migration_control WHERE status <> 'rolled_back' ORDER BY id DESC`);
  for (const r of runs.rows) await rollbackMigration({ migrationId: Number(r.id), target: conn.target });
}
