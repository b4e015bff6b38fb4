import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { ensureControlTables, insertControl } from '../../src/control/control-tables.js';
import { contentHash } from '../../src/core/artifacts/hash.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { executeRunForTest } from '../setup/execute.js';
import { RunStore } from '../../src/store/run-store.js';
import { chooseDriver } from '../../sandbox/index.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const LEGACY = `
CREATE TABLE parcels (parcel_no integer PRIMARY KEY, label text NOT NULL);
INSERT INTO parcels VALUES (11, 'fragile\\glass'), (12, E'two\\nlines'), (13, '  padded  '), (14, 'Ünïcødé 📦');
`;
// Supabase-like: anon/authenticated get everything new in public by default privileges, and
// (harsher than Supabase) database-wide too.
const TARGET = `
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
END $$;
GRANT USAGE ON SCHEMA public TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO anon, authenticated;
CREATE TABLE deliveries (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), label text NOT NULL, legacy_parcel_no integer);
CREATE TABLE courier_profiles (id uuid PRIMARY KEY, handle text NOT NULL);
`;

describe('the bookkeeping is ferry’s alone, and rollback trusts the run store, not migration_control', () => {
  let pair: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let driver: SandboxDriver;
  let work: string;
  let plan: MigrationPlan;
  let analysis: SchemaAnalysis;
  let migrationId: number;

  const n = async (sql: string) => Number((await pair.sql('target', sql)).rows[0].n);
  /** Runs statements as one of the app's roles; returns the error code, or 'ok'. */
  async function asRole(role: 'anon' | 'authenticated', sql: string): Promise<string> {
    const c = new pg.Client({ connectionString: pair.target.url });
    await c.connect();
    try {
      await c.query(`SET ROLE ${role}`);
      await c.query(sql);
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    pair = await createDatabasePair('ctl_', { legacy: (u) => runScript(u, LEGACY), target: (u) => runScript(u, TARGET) });
    conn = await openConnections(pair.legacy.url, pair.target.url);
    store = await RunStore.open(pair.target.url);
    driver = (await chooseDriver({ prefer: 'local', allowWeak: true })).driver;
    work = await mkdtemp(join(tmpdir(), 'ferry-control-'));
    const made = await describeToPlan({ description: 'Move every parcel from parcels into deliveries', conn });
    analysis = made.analysis;
    plan = approvePlan(made.plan, 'ctl-reviewer');
    await store.savePlan(plan, analysis, { by: 'ctl-reviewer' });
    const recorded = await executeRunForTest(store, { plan, analysis, conn, driver, policy: defaultPolicy, workDir: work, startedBy: 'ctl' });
    expect(recorded.run.status).toBe('completed');
    migrationId = recorded.run.migrationId;
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await pair?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lives in ferry_control with row-level security on, and anon / authenticated can neither read nor write it', async () => {
    expect(await n(`SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = ${migrationId}`)).toBe(4);
    expect((await pair.sql('target', `SELECT to_regclass('public.migration_control') AS t, to_regclass('public.migration_mappings') AS m`)).rows[0]).toEqual({ t: null, m: null });
    const rls = await pair.sql('target', `SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'ferry_control'::regnamespace AND relkind = 'r' ORDER BY 1`);
    expect(rls.rows).toEqual([
      { relname: 'migration_control', relrowsecurity: true },
      { relname: 'migration_mappings', relrowsecurity: true },
      { relname: 'target_identity', relrowsecurity: true },
    ]);
    for (const role of ['anon', 'authenticated'] as const) {
      const privs = await pair.sql(
        'target',
        `SELECT has_schema_privilege($1, 'ferry_control', 'USAGE') AS usage,
                has_table_privilege($1, 'ferry_control.migration_control', 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE') AS control,
                has_table_privilege($1, 'ferry_control.migration_mappings', 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE') AS mappings`,
        [role],
      );
      expect(privs.rows[0]).toEqual({ usage: false, control: false, mappings: false });
      expect(await asRole(role, 'SELECT new_id FROM ferry_control.migration_mappings')).toBe('42501');
      expect(await asRole(role, `UPDATE ferry_control.migration_control SET target_table = 'public.courier_profiles'`)).toBe('42501');
      expect(await asRole(role, `DELETE FROM ferry_control.migration_mappings`)).toBe('42501');
      // The app's own table is still theirs: only ferry's bookkeeping was closed.
      expect(await asRole(role, 'SELECT count(*) FROM deliveries')).toBe('ok');
    }
  });

  it('starting next to a run that writes takes no lock on the bookkeeping once it is in place; a grant added since is still taken back', async () => {
    // A writer mid-batch: its transaction holds a lock on migration_control (as a batch's control update does).
    const writer = new pg.Client({ connectionString: pair.target.url });
    const starter = new pg.Client({ connectionString: pair.target.url });
    await writer.connect();
    await starter.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`UPDATE ferry_control.migration_control SET heartbeat_at = now() WHERE id = ${migrationId}`);
      // ENABLE ROW LEVEL SECURITY (ACCESS EXCLUSIVE) would wait here and, behind the writer's next lock, deadlock.
      await starter.query(`SET lock_timeout = '2s'`);
      await expect(ensureControlTables(starter)).resolves.toBeUndefined();
      await writer.query('COMMIT');
      // Not in place any more (a grant to anon): the DDL runs again and takes it back.
      await pair.sql('target', 'GRANT USAGE ON SCHEMA ferry_control TO anon; GRANT SELECT ON ferry_control.migration_mappings TO anon');
      await ensureControlTables(starter);
      const privs = await pair.sql('target', `SELECT has_schema_privilege('anon', 'ferry_control', 'USAGE') AS usage, has_table_privilege('anon', 'ferry_control.migration_mappings', 'SELECT') AS sel`);
      expect(privs.rows[0]).toEqual({ usage: false, sel: false });
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      await writer.end();
      await starter.end();
    }
  });

  it('refuses a rollback whose migration_control.plan was rewritten to another table, and deletes nothing', async () => {
    const victim = (await pair.sql('target', 'SELECT id FROM deliveries ORDER BY legacy_parcel_no LIMIT 1')).rows[0].id as string;
    await pair.sql('target', `INSERT INTO courier_profiles VALUES ($1, 'kestrel')`, [victim]);
    const before = await pair.sql('target', `SELECT plan, target_table FROM ferry_control.migration_control WHERE id = $1`, [migrationId]);
    await pair.sql(
      'target',
      `UPDATE ferry_control.migration_control SET plan = jsonb_set(plan, '{target,table}', '"courier_profiles"'), target_table = 'public.courier_profiles' WHERE id = $1`,
      [migrationId],
    );
    try {
      const err = await rollbackMigration({ migrationId, target: conn.target, store }).then(
        () => null,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(err?.code).toBe('CONTROL_TAMPERED');
      expect(err?.message).toContain('target_table: migration_control says public.courier_profiles, the run store public.deliveries');
      expect(err?.message).toContain('plan.target: migration_control says public.courier_profiles');
      expect(await n('SELECT count(*) AS n FROM courier_profiles')).toBe(1);
      expect(await n('SELECT count(*) AS n FROM deliveries')).toBe(4);
      expect(await n(`SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = ${migrationId}`)).toBe(4);
    } finally {
      await pair.sql('target', `UPDATE ferry_control.migration_control SET plan = $2, target_table = $3 WHERE id = $1`, [migrationId, before.rows[0].plan, before.rows[0].target_table]);
    }
  });

  it('refuses to roll back a run the run store never recorded (a control row planted by hand), and deletes nothing', async () => {
    const victim = await pair.sql('target', `INSERT INTO courier_profiles VALUES (gen_random_uuid(), 'osprey') RETURNING id`);
    const victimId = victim.rows[0].id as string;
    // A "run" that exists only in migration_control, claiming the victim row as one it wrote.
    const forged: MigrationPlan = { ...plan, target: { ...plan.target, table: 'courier_profiles' } };
    const forgedId = await insertControl(conn.target, forged, contentHash(forged));
    await pair.sql(
      'target',
      `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES ($1, 1, 'public.parcels', '99', 'public.courier_profiles', $2)`,
      [forgedId, victimId],
    );
    const err = await rollbackMigration({ migrationId: forgedId, target: conn.target, store }).then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe('CONTROL_UNRECORDED');
    expect(err?.message).toContain(`the run store has no record of migration ${forgedId} (public.courier_profiles)`);
    expect(await n(`SELECT count(*) AS n FROM courier_profiles WHERE id = '${victimId}'`)).toBe(1);
    expect(await n(`SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = ${forgedId}`)).toBe(1);
    await pair.sql('target', `DELETE FROM ferry_control.migration_mappings WHERE migration_id = $1`, [forgedId]);
    await pair.sql('target', `DELETE FROM ferry_control.migration_control WHERE id = $1`, [forgedId]);
    await pair.sql('target', `DELETE FROM courier_profiles WHERE id = $1`, [victimId]);
  });

  it('carries an older installation’s tables in public over, locked down, and rolls its run back', async () => {
    // What an older ferry left: both tables in public, open to anon by the default privileges,
    // without today's guard triggers (their functions live in ferry_control).
    await runScript(
      pair.target.url,
      `DROP FUNCTION ferry_control.mappings_need_control(), ferry_control.control_keeps_mappings() CASCADE;
       ALTER TABLE ferry_control.migration_control SET SCHEMA public;
       ALTER TABLE ferry_control.migration_mappings SET SCHEMA public;
       DROP TABLE ferry_control.target_identity;
       DROP SCHEMA ferry_control;
       GRANT ALL ON public.migration_control, public.migration_mappings TO anon, authenticated;`,
    );
    expect(await asRole('anon', 'SELECT new_id FROM public.migration_mappings')).toBe('ok');
    // …and recorded its runs without naming the target (no targetId in the first event).
    await pair.sql('target', `UPDATE ferry.run_events SET event = event - 'targetId' WHERE event->>'type' = 'started'`);

    const r = await rollbackMigration({ migrationId, target: conn.target, store });
    expect(r).toMatchObject({ status: 'rolled_back', rowsDeleted: 4, mappingsDeleted: 4 });
    expect((await pair.sql('target', `SELECT to_regclass('public.migration_control') AS t, to_regclass('public.migration_mappings') AS m`)).rows[0]).toEqual({ t: null, m: null });
    expect(await n(`SELECT count(*) AS n FROM ferry_control.migration_control WHERE id = ${migrationId} AND status = 'rolled_back'`)).toBe(1);
    expect(await n('SELECT count(*) AS n FROM deliveries')).toBe(0);
    // The profile sharing a migrated row's id was never ferry's to delete.
    expect(await n('SELECT count(*) AS n FROM courier_profiles')).toBe(1);
    expect(await asRole('anon', 'SELECT count(*) FROM ferry_control.migration_control')).toBe('42501');
    // And the next run writes on in the moved tables: ids continue.
    const again = await executeRunForTest(store, { plan, analysis, conn, driver, policy: defaultPolicy, workDir: work, startedBy: 'ctl' });
    expect(again.run.status).toBe('completed');
    expect(again.run.migrationId).toBeGreaterThan(migrationId);
    expect(await n('SELECT count(*) AS n FROM deliveries')).toBe(4);
    // The moved tables got the guards back: a control row with mappings cannot be deleted.
    await expect(pair.sql('target', 'DELETE FROM ferry_control.migration_control WHERE id = $1', [again.run.migrationId])).rejects.toMatchObject({ code: '23503' });
  });
});
