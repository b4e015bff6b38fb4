import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { contentHash } from '../../src/core/artifacts/hash.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { replayRun } from '../../src/service/record.js';
import { executeRun } from '../../src/run/execute-run.js';
import { RunStore } from '../../src/store/run-store.js';
import { resolveToken, sha256Hex } from '../../src/service/server.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';

describe('the run store, dry runs and replay (real PostgreSQL, real Docker)', () => {
  let seed: SeedCase;
  let conn: Connections;
  let store: RunStore;
  let driver: SandboxDriver;
  let analysis: SchemaAnalysis;
  let plan: MigrationPlan;
  let work: string;
  const counts = async () => {
    const r = await seed.sql(
      'target',
      `SELECT (SELECT count(*) FROM technician_roles)::int AS roles, (SELECT count(*) FROM ferry_control.migration_mappings)::int AS mappings,
              (SELECT count(*) FROM ferry_control.migration_control)::int AS controls`,
    );
    return r.rows[0];
  };

  beforeAll(async () => {
    driver = await dockerDriverForTests();
  });
  // Fresh databases, run store and approved plan for each test: a test that needs a dry or a
  // real run makes it itself, so any test runs alone and in any order.
  beforeEach(async () => {
    seed = await createSeedCase();
    conn = await openConnections(seed.legacy.url, seed.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-replay-'));
    // Opening twice: the schema is created once and the second open changes nothing.
    await (await RunStore.open(seed.target.url)).close();
    store = await RunStore.open(seed.target.url);
    const made = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
    analysis = made.analysis;
    await store.savePlan(made.plan, analysis);
    plan = approvePlan(made.plan, 'replay-test');
    await store.savePlan(plan);
  });
  afterEach(async () => {
    await store?.close();
    await conn?.close();
    await seed?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });
  const dryRun = (dir: string) => executeRun({ store, plan, analysis, conn, driver, policy: defaultPolicy, workDir: join(work, dir), startedBy: 't', dryRun: true });
  const realRun = (dir: string) => executeRun({ store, plan, analysis, conn, driver, policy: defaultPolicy, workDir: join(work, dir), startedBy: 't', onceKey: `${plan.id}:${plan.revision}` });

  it('keeps plan versions with their status, decider and content hash', async () => {
    const [latest] = await store.listPlans();
    expect(latest).toMatchObject({ planId: plan.id, revision: 1, status: 'approved', decidedBy: 'replay-test', planHash: contentHash(plan) });
    expect((await store.getAnalysis(plan.analysisHash)).kind).toBe('schema_analysis');
    const tables = await seed.sql('target', `SELECT table_name FROM information_schema.tables WHERE table_schema = 'ferry' ORDER BY 1`);
    expect(tables.rows.map((r) => r.table_name)).toEqual(['api_tokens', 'artifacts', 'bundles', 'plan_versions', 'run_events', 'runs']);
  });

  it('generates the API token once and keeps only its hash; a configured token wins', async () => {
    const first = await resolveToken(store, undefined);
    expect(first.generated).toMatch(/^[\w-]{32}$/);
    expect(first.sha256).toBe(sha256Hex(first.generated!));
    expect(await resolveToken(store, undefined)).toEqual({ sha256: first.sha256, generated: null });
    // At least 32 bytes: a shorter configured token is refused (API_TOKEN_TOO_SHORT, http-hardening.test.ts).
    const chosen = 'chosen-by-the-operator-0123456789abcdef';
    expect(await resolveToken(store, chosen)).toEqual({ sha256: sha256Hex(chosen), generated: null });
    const kept = await seed.sql('target', 'SELECT sha256 FROM ferry.api_tokens');
    expect(kept.rows).toEqual([{ sha256: first.sha256 }]);
  });

  it('marks failed a run whose process on this host died, so its plan version can start again', async () => {
    const { run: dead } = await store.createRun({ plan, mode: 'run', startedBy: 't', onceKey: 'abandoned', owner: `${hostname()}:999999999` });
    const { run: mine } = await store.createRun({ plan, mode: 'dry_run', startedBy: 't' });
    const { run: elsewhere } = await store.createRun({ plan, mode: 'dry_run', startedBy: 't', owner: 'another-host:1' });
    expect(await store.failAbandoned()).toEqual([dead.id]);
    expect(await store.getRun(dead.id)).toMatchObject({ status: 'failed', errorCode: 'RUN_ABANDONED' });
    expect((await store.getRun(mine.id)).status).toBe('running');
    expect((await store.getRun(elsewhere.id)).status).toBe('running');
    const again = await store.createRun({ plan, mode: 'run', startedBy: 't', onceKey: 'abandoned' });
    expect(again.created).toBe(true);
    for (const r of [mine, elsewhere, again.run]) await store.finishRun(r.id, { status: 'failed', errorCode: 'TEST', error: 'cleanup' });
  });

  it('a dry run goes through the sandbox and the checks, and leaves the target as it was', async () => {
    const { run } = await dryRun('dry');
    expect(run).toMatchObject({ mode: 'dry_run', status: 'completed', migrationId: null, reportHash: null });
    expect(run.rowKeys).toHaveLength(31);
    const dryChecksum = run.rowsChecksum!;
    expect(dryChecksum).toMatch(/^[0-9a-f]{64}$/);
    expect(await counts()).toEqual({ roles: 0, mappings: 0, controls: 0 });
  });

  it('a real run writes, validates, and records the same checksum as the dry run (minted uuids are not in it)', async () => {
    const dryChecksum = (await dryRun('dry')).run.rowsChecksum!;
    const { run, created } = await realRun('real');
    expect(created).toBe(true);
    expect(run).toMatchObject({ mode: 'run', status: 'completed', rowsChecksum: dryChecksum });
    expect(run.imageId).toMatch(/^sha256:/);
    const report = await store.getArtifact(run.reportHash!);
    expect(report).toMatchObject({ kind: 'validation_report', body: { status: 'passed' } });
    const events = await store.events(run.id);
    expect(events.map((e) => e.event.type)).toEqual(expect.arrayContaining(['started', 'sandbox_started', 'batch_committed', 'finished']));
    expect(await counts()).toEqual({ roles: 31, mappings: 31, controls: 1 });
  });

  it('a second start for the same plan version returns the first run and runs nothing', async () => {
    const realRunId = (await realRun('real')).run.id;
    const again = await executeRun({ store, plan, analysis, conn, driver, policy: defaultPolicy, workDir: join(work, 'again'), startedBy: 't', onceKey: `${plan.id}:${plan.revision}` });
    expect(again).toMatchObject({ created: false, run: { id: realRunId } });
    const both = await Promise.all([1, 2].map(() => store.createRun({ plan, mode: 'run', startedBy: 't', onceKey: 'race' })));
    expect(both.filter((b) => b.created)).toHaveLength(1);
    expect(both[0]!.run.id).toBe(both[1]!.run.id);
    expect(await counts()).toEqual({ roles: 31, mappings: 31, controls: 1 });
  });

  it('replays the recorded bundle in a dry run and reproduces it', async () => {
    const dryChecksum = (await dryRun('dry')).run.rowsChecksum!;
    const realRunId = (await realRun('real')).run.id;
    const r = await replayRun({ store, runId: realRunId, conn, driver, policy: defaultPolicy, workDir: join(work, 'replay1'), startedBy: 't' });
    expect(r.verdict).toBe('reproduced');
    expect(r.factors.every((f) => f.same)).toBe(true);
    expect(r.replay).toMatchObject({ mode: 'replay', replayOf: realRunId, rowsChecksum: dryChecksum });
    expect(await counts()).toEqual({ roles: 31, mappings: 31, controls: 1 });
  });

  it('says the source rows changed when they did', async () => {
    const realRunId = (await realRun('real')).run.id;
    // A value the recorded plan knows (so the row still derives), on a row that had another.
    const hawley = String((await seed.sql('legacy', `SELECT id FROM dispatch_role WHERE name = 'MT-Hawley'`)).rows[0]!.id);
    await seed.sql('legacy', `UPDATE dispatch_role SET name = 'MT-Finishing' WHERE name = 'MT-Hawley'`);
    try {
      const r = await replayRun({ store, runId: realRunId, conn, driver, policy: defaultPolicy, workDir: join(work, 'replay2'), startedBy: 't' });
      expect(r.verdict).toBe('differs');
      expect(r.factors.find((f) => f.factor === 'source_rows')).toMatchObject({ same: false });
      // Exactly which row: the one whose source changed, and so the row it would write.
      expect(r.factors.find((f) => f.factor === 'source_rows')?.detail).toContain(`legacy ${hawley})`);
      expect(r.factors.find((f) => f.factor === 'rows_written')?.detail).toMatch(new RegExp(`: legacy ${hawley}$`));
      expect(r.summary).toContain(`rows that differ: legacy ${hawley}`);
      expect(r.factors.find((f) => f.factor === 'image')).toMatchObject({ same: true });
      expect(r.summary).toContain('source rows changed');
      expect(await counts()).toEqual({ roles: 31, mappings: 31, controls: 1 });
    } finally {
      await seed.sql('legacy', `UPDATE dispatch_role SET name = 'MT-Hawley' WHERE abbrev = 'HAW'`);
    }
  });
});
