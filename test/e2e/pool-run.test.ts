import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, prepareProgram, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { RunStore } from '../../src/store/run-store.js';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { DockerDriver } from '../../sandbox/docker-driver.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { SandboxPool } from '../../sandbox/pool.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from '../filters/workshop-case.js';

/**
 * A run whose sandboxes come from the warm pool (issue 17): the workshop's staff (not the case
 * study: other names, a parent table, dirty trades) moved at --parallel 2, each key range in
 * its own warm container, exact and validated; the containers gone after.
 */
describe('a run on warm pooled containers, on real PostgreSQL and Docker', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let pool: SandboxPool;
  let work: string;
  let approved: MigrationPlan;
  let analysis: SchemaAnalysis;
  const warnings: string[] = [];
  beforeAll(async () => {
    await dockerDriverForTests();
    pool = new SandboxPool(new DockerDriver(), { size: 2, policy: defaultPolicy, logger: { warn: (f, m) => warnings.push(`${m} ${JSON.stringify(f)}`) } });
    pool.fill();
    db = await createWorkshopCase();
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-pool-run-'));
    const drafted = await describeToPlan({ description: WORKSHOP_DESCRIPTION, conn });
    analysis = drafted.analysis;
    const decided = await applyOverrides(
      drafted.plan,
      { map: [{ source: 'MT*', target: 'manufacturing' }], exclude: [{ source: 'Volunteer' }], excludeNull: ['craft'] },
      'tester',
      createPlanProbe(conn.source, conn.target),
      new Date(),
      () => true,
      analysis,
    );
    approved = approvePlan(decided, 'tester');
    await pool.settled();
  });
  afterAll(async () => {
    await pool?.close();
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('moves exactly the rows, each range in its own warm container, validated; the containers are removed after', async () => {
    expect(reviewItems(approved)).toEqual([]);
    expect(pool.stats()).toMatchObject({ ready: 2, warm: 0, cold: 0 });
    const program = await prepareProgram({ plan: approved, analysis, dir: join(work, 'run1') });
    const { run, report } = await executeRunForTest(store, { plan: approved, analysis, program, conn, driver: pool, policy: defaultPolicy, parallel: 2 });
    // 40 staff less 2 volunteers and 2 without a trade.
    expect(run).toMatchObject({ status: 'completed', sourceRows: 36, inserted: 36 });
    expect(report?.status).toBe('passed');
    expect(report?.counts).toMatchObject({ source: 36, migrated: 36, mappings: 36 });
    expect(pool.stats()).toMatchObject({ warm: 2, cold: 0 });
    const served = [...pool.served.values()];
    expect(new Set(served).size).toBe(2);
    const records = run.sandboxes ?? [];
    expect(records).toHaveLength(2);
    expect(records.map((r) => r.containerId).sort()).toEqual([...served].sort());
    expect(records.reduce((n, r) => n + r.rowsIn, 0)).toBe(36);
    for (const r of records) expect(r).toMatchObject({ driver: 'docker', exitReason: 'ok', policy: { HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true } } });
    const alive = (await createDockerClient().listContainers({ 'ferry.managed': 'true' })).map((c) => c.id);
    for (const id of served) expect(alive).not.toContain(id);
    const crafts = await db.sql('target', 'SELECT craft::text AS c, count(*)::int AS n FROM crew_members GROUP BY 1 ORDER BY 1');
    expect(crafts.rows).toEqual([
      { c: 'logistics', n: 2 },
      { c: 'manufacturing', n: 33 },
      { c: 'office', n: 1 },
    ]);
    expect(warnings).toEqual([]);
  });
});
