import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/store/run-store.js';
import { DockerDriver } from '../../sandbox/docker-driver.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from '../filters/workshop-case.js';

/**
 * `ferry run` starts its sandbox containers (one per --parallel range) at its very beginning,
 * while it loads the plan, connects and prepares the program (issue 17): the run's sandboxes
 * are those warm containers, and a run refused before it needs them leaves none behind.
 */
describe('ferry run starts its containers while it prepares', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const ferry = (...args: string[]) => runFerry(env, args);
  const driver = new DockerDriver({ reapOnStart: false });
  /** Pool containers made since `since` by a process that has ended (the ferry runs), still there. */
  const leftSince = async (since: Date) =>
    (await driver.containers()).filter((c) => c.labels['ferry.pool'] !== undefined && c.owner === 'gone' && c.createdAt.getTime() >= since.getTime() - 1_000);

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createWorkshopCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-cli-early-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'cli-early', { FERRY_LOG_LEVEL: 'info' });
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('refused (draft plan): exits 2 and removes the containers it had started', async () => {
    const plan = await ferry('plan', WORKSHOP_DESCRIPTION);
    expect(plan.code).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)![1]!;
    const since = new Date();
    const refused = await ferry('run', planPath, '--parallel', '2');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('PLAN_NOT_APPROVED');
    expect(await leftSince(since)).toEqual([]);
  });

  it('opens its run store beside the plan: a plan refusal is still told first, a store that cannot open fails the run before any row', async () => {
    const noStore = new URL(db.target.url);
    noStore.pathname = '/ferry_no_such_store';
    const storeEnv = { ...env, FERRY_STATE_URL: noStore.toString() };
    const plan = await ferry('plan', WORKSHOP_DESCRIPTION);
    expect(plan.code).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)![1]!;
    const since = new Date();
    const refused = await runFerry(storeEnv, ['run', planPath]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('PLAN_NOT_APPROVED');
    expect(refused.stderr).not.toContain('ferry_no_such_store');
    // Approved (in the store that exists); the run then needs its own store to check that approval, and says which failed.
    const approved = await ferry('approve', planPath, '--map', 'MT*=manufacturing', '--exclude', 'Volunteer', '--exclude-null', 'craft');
    expect(approved.code).toBe(0);
    const failed = await runFerry(storeEnv, ['run', planPath]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/DB_CONNECT_FAILED: could not connect to the run store database \(.*ferry_no_such_store\)/);
    const target = new pg.Client({ connectionString: db.target.url });
    await target.connect();
    try {
      const control = await target.query(`SELECT to_regclass('ferry_control.migration_control') AS t`);
      if (control.rows[0].t !== null) expect((await target.query('SELECT count(*)::int AS n FROM ferry_control.migration_control')).rows[0].n).toBe(0);
      expect((await target.query('SELECT count(*)::int AS n FROM crew_members')).rows[0].n).toBe(0);
    } finally {
      await target.end();
    }
    expect(await leftSince(since)).toEqual([]);
  });

  it('runs each of its 2 ranges in a container started before the program was ready, exact and validated', async () => {
    const plan = await ferry('plan', WORKSHOP_DESCRIPTION);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)![1]!;
    const approved = await ferry('approve', planPath, '--map', 'MT*=manufacturing', '--exclude', 'Volunteer', '--exclude-null', 'craft');
    expect(approved.code).toBe(0);
    const since = new Date();
    const run = await ferry('run', planPath, '--parallel', '2');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('36 inserted');
    const runId = Number(/recorded as run (\d+)/.exec(run.stdout)![1]);
    const store = await RunStore.open(db.target.url);
    try {
      const events = await store.events(runId);
      expect(events.filter((e) => e.event.type === 'sandbox_started')).toHaveLength(2);
      const row = await store.getRun(runId);
      expect((await store.getArtifact(row.reportHash!))!.body).toMatchObject({ status: 'passed', counts: { source: 36, migrated: 36, mappings: 36 } });
      const record = (await store.getArtifact(row.sandboxHash!))!.body as { policy: { Warm?: unknown; HostConfig: { Binds: string[] } }; exitReason: string };
      // A warm container's record: the waiter's mounts (whole directories), not a cold run's bundle file.
      expect(record.exitReason).toBe('ok');
      expect(record.policy.Warm).toBeDefined();
      expect(record.policy.HostConfig.Binds[0]).toMatch(/ferry-pool-[^/]+\/program:\/sandbox:ro$/);
    } finally {
      await store.close();
    }
    expect(await leftSince(since)).toEqual([]);
  });
});
