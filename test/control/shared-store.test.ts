import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { RunStore } from '../../src/store/run-store.js';
import { chooseDriver } from '../../sandbox/index.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { executeRunForTest } from '../setup/execute.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

// Two targets (say staging and production) of the same schema, one run store: each target's
// first migration is number 1, so the store holds two "migration 1"s.
const LEGACY = `
CREATE TABLE gauges (gauge_code text PRIMARY KEY, reading numeric(8,3) NOT NULL, sited_at date);
INSERT INTO gauges VALUES ('N-1', 1.250, '2021-04-01'), ('N-2', 0.000, NULL), ('S-7', 17.125, '2019-12-31');
`;
const TARGET = `
CREATE TABLE instruments (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_gauge_code text, reading numeric(8,3) NOT NULL, sited_at date);
`;

describe('one run store for several targets: a rollback is vouched for by the run on that target', () => {
  let staging: DatabasePair;
  let production: DatabasePair;
  const conns: Connections[] = [];
  let store: RunStore;
  let driver: SandboxDriver;
  let work: string;

  async function migrate(pair: DatabasePair): Promise<{ conn: Connections; migrationId: number }> {
    const conn = await openConnections(pair.legacy.url, pair.target.url);
    conns.push(conn);
    const made = await describeToPlan({ description: 'Move gauges into instruments', conn });
    const plan = approvePlan(made.plan, 'shared-store');
    const recorded = await executeRunForTest(store, { plan, analysis: made.analysis, conn, driver, policy: defaultPolicy, workDir: work, startedBy: 'shared-store' });
    expect(recorded.run.status).toBe('completed');
    return { conn, migrationId: recorded.run.migrationId };
  }

  beforeAll(async () => {
    const make = { legacy: (u: string) => runScript(u, LEGACY), target: (u: string) => runScript(u, TARGET) };
    staging = await createDatabasePair('stg_', make);
    production = await createDatabasePair('prd_', make);
    // The store lives in staging's target database; production's runs are recorded there too.
    store = await RunStore.open(staging.target.url);
    driver = (await chooseDriver({ prefer: 'local', allowWeak: true })).driver;
    work = await mkdtemp(join(tmpdir(), 'ferry-shared-store-'));
  });
  afterAll(async () => {
    await store?.close();
    for (const c of conns) await c.close();
    await staging?.drop();
    await production?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('rolls back production’s migration 1 by production’s run, not staging’s migration 1, and each target only its own rows', async () => {
    const onStaging = await migrate(staging);
    const onProduction = await migrate(production);
    expect(onStaging.migrationId).toBe(onProduction.migrationId);
    const stagingId = (await staging.sql('target', 'SELECT id::text FROM ferry_control.target_identity')).rows[0].id as string;
    const productionId = (await production.sql('target', 'SELECT id::text FROM ferry_control.target_identity')).rows[0].id as string;
    expect(stagingId).not.toBe(productionId);

    // Before targets were named, the store answered with the first "migration 1" it held —
    // staging's — whose plan differs (plan ids carry the database pair), and refused this as tampered.
    const rolled = await rollbackMigration({ migrationId: onProduction.migrationId, target: onProduction.conn.target, store });
    expect(rolled).toMatchObject({ status: 'rolled_back', rowsDeleted: 3, mappingsDeleted: 3 });
    expect(Number((await production.sql('target', 'SELECT count(*) AS n FROM instruments')).rows[0].n)).toBe(0);
    expect(Number((await staging.sql('target', 'SELECT count(*) AS n FROM instruments')).rows[0].n)).toBe(3);

    const record = await store.migrationRecord(onStaging.migrationId, stagingId);
    const other = await store.migrationRecord(onStaging.migrationId, productionId);
    expect(record?.runId).not.toBe(other?.runId);
    expect(record?.plan.id).not.toBe(other?.plan.id);
    // An identity no run was recorded under: nothing vouches for its migration 1.
    expect(await store.migrationRecord(onStaging.migrationId, '00000000-0000-4000-8000-000000000000')).toBeNull();
  });
});
