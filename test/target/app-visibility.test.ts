import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { FerryError } from '../../src/core/errors.js';
import { ValidationReport } from '../../src/core/artifacts/validation-report.js';
import { renderReport } from '../../src/present/render.js';
import { RunStore } from '../../src/store/run-store.js';
import { appVisibility, parseAsUser } from '../../src/target/app-visibility.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { SUPABASE_ROLES_SQL } from '../../src/demo/seed-case.js';

const LEGACY = `
CREATE TABLE deck_logs (entry_no integer PRIMARY KEY, vessel text NOT NULL, cleared boolean, note text);
INSERT INTO deck_logs VALUES
  (2, 'Sjøblomst', true, 'fog\tbank'), (5, 'Sjøblomst', false, NULL), (11, 'Kittiwake ', true, ''),
  (12, 'O''Brien''s Pride', NULL, 'no entry'), (40, 'Kittiwake ', true, 'ice 🧊'), (41, 'Tern', false, 'N/A');
`;


const TARGET = `
${SUPABASE_ROLES_SQL}
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid $$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
CREATE TABLE logbook (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, vessel text NOT NULL, cleared boolean, note text);
GRANT SELECT ON logbook TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON logbook TO service_role;
ALTER TABLE logbook ENABLE ROW LEVEL SECURITY;
CREATE POLICY logbook_cleared_or_signed_in ON logbook FOR SELECT TO authenticated USING (cleared OR auth.uid() IS NOT NULL);
`;

describe("app visibility: what Supabase's roles can read of a run's rows (real PostgreSQL, real Docker)", () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let work: string;

  beforeAll(async () => {
    db = await createDatabasePair('vis_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-vis-'));
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('after a run, the report says per role what it reads, why, and warns on none; it stays information, not a failure', async () => {
    const planned = await describeToPlan({ description: 'Migrate deck_logs into logbook', conn });
    const plan = approvePlan(planned.plan, 'vis-test');
    await store.savePlan(plan, planned.analysis, { by: 'vis-test' });
    const { run, report } = await executeRunForTest(store, { plan, analysis: planned.analysis, conn, driver: await dockerDriverForTests(), policy: defaultPolicy });
    expect(run).toMatchObject({ status: 'completed', inserted: 6 });
    expect(report?.status).toBe('passed');
    const v = report!.appVisibility!;
    expect(ValidationReport.parse(report).appVisibility).toEqual(v);
    expect(v).toMatchObject({ via: 'postgres', table: 'public.logbook', migratedRows: 6, rlsEnabled: true, rlsForced: false, asUser: null });
    const byRole = Object.fromEntries(v.roles.map((r) => [r.role, r]));
    expect(Object.keys(byRole)).toEqual(['anon', 'authenticated', 'service_role']);
    // anon: no grant at all.
    expect(byRole.anon).toMatchObject({ readable: null, grants: [], bypassRls: false, schemaUsage: true, policies: [] });
    expect(byRole.anon!.error).toMatch(/permission denied/);
    // authenticated with no user id: the policy lets the cleared rows through (3 of 6; NULL is not true).
    expect(byRole.authenticated).toMatchObject({ readable: 3, grants: ['SELECT'], bypassRls: false });
    expect(byRole.authenticated!.policies).toEqual([
      { name: 'logbook_cleared_or_signed_in', command: 'SELECT', permissive: true, using: expect.stringContaining('auth.uid()') },
    ]);
    expect(byRole.service_role).toMatchObject({ readable: 6, grants: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], bypassRls: true });
    expect(v.warnings).toEqual([expect.stringMatching(/^anon can read none of the 6 migrated rows: it may not read the table \(permission denied/)]);

    const text = renderReport(report!);
    expect(text).toContain('app visibility (public.logbook');
    expect(text).toMatch(/authenticated +reads 3\/6 · policies logbook_cleared_or_signed_in \(SELECT/);
    expect(text).toMatch(/service_role +reads 6\/6 · bypasses RLS/);
    expect(text).toContain('⚠ anon can read none of the 6 migrated rows');
  });

  it('--as-user gives authenticated a user id (the JWT sub auth.uid() reads); the impersonation is rolled back', async () => {
    const migrationId = Number((await db.sql('target', 'SELECT max(id) AS id FROM ferry_control.migration_control')).rows[0].id);
    const planned = await describeToPlan({ description: 'Migrate deck_logs into logbook', conn });
    const user = parseAsUser('6B1E6F0C-2D4A-4C8E-9F3B-7A5D2E1C0B9A');
    const v = await appVisibility({ db: conn.target, plan: planned.plan, migrationId, asUser: user });
    expect(v!.asUser).toBe('6b1e6f0c-2d4a-4c8e-9f3b-7a5d2e1c0b9a');
    expect(v!.roles.find((r) => r.role === 'authenticated')!.readable).toBe(6);
    expect(v!.warnings).toContain('authenticated can read all 6 migrated rows: its policies (logbook_cleared_or_signed_in) let every row through');
    // Nothing of the impersonation stays on the connection.
    const after = await conn.target.query<{ u: string; c: string | null }>(`SELECT current_user AS u, current_setting('request.jwt.claims', true) AS c`);
    expect(after.rows[0]!.u).not.toMatch(/^(anon|authenticated|service_role)$/);
    expect(after.rows[0]!.c ?? '').toBe('');
    expect(Number((await db.sql('target', 'SELECT count(*) AS n FROM logbook')).rows[0].n)).toBe(6);

    // Rows the run did not write (here two added by hand, one cleared) are not counted: only the run's keys are.
    await db.sql('target', `INSERT INTO logbook (vessel, cleared, note) VALUES ('Not ferry''s', true, NULL), ('Nor this', false, NULL)`);
    const mixed = await appVisibility({ db: conn.target, plan: planned.plan, migrationId });
    expect(mixed!.migratedRows).toBe(6);
    expect(Object.fromEntries(mixed!.roles.map((r) => [r.role, r.readable]))).toEqual({ anon: null, authenticated: 3, service_role: 6 });
    // The keys lived in a temporary table of the counting transaction: gone, and the connection is out of it.
    const left = await conn.target.query<{ n: string; tx: string }>(`SELECT count(*) AS n, (SELECT CASE WHEN txid_current_if_assigned() IS NULL THEN 'none' ELSE 'open' END) AS tx FROM pg_class WHERE relname = 'ferry_app_visibility_keys'`);
    expect(left.rows[0]).toEqual({ n: '0', tx: 'none' });
    await db.sql('target', `DELETE FROM logbook WHERE legacy_id IS NULL`);

    // A target whose schema grants Supabase's roles nothing is plain PostgreSQL: no section.
    await db.sql('target', 'REVOKE USAGE ON SCHEMA public FROM anon, authenticated, service_role');
    expect(await appVisibility({ db: conn.target, plan: planned.plan, migrationId })).toBeUndefined();
  });

  it('--as-user that is not a uuid is refused, saying what a user id looks like', () => {
    let caught: unknown;
    try {
      parseAsUser("alice@example.com'; --");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FerryError);
    expect((caught as FerryError).code).toBe('AS_USER_INVALID');
    expect((caught as FerryError).message).toContain('alice@example.com');
    expect((caught as FerryError).hint).toMatch(/Supabase Auth/);
  });
});
