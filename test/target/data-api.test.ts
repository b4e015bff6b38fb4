import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { ValidationReport } from '../../src/core/artifacts/validation-report.js';
import { FerryError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/config.js';
import { renderReport } from '../../src/present/render.js';
import { RunStore } from '../../src/store/run-store.js';
import { appVisibility } from '../../src/target/app-visibility.js';
import { chunkKeys, dataApiSettings, KEY_FILTER_BUDGET, type DataApiSettings } from '../../src/target/data-api.js';
import { SUPABASE_ROLES_SQL } from '../../src/demo/seed-case.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest, executeRunSetForTest } from '../setup/execute.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { parseInList, signJwt, startPostgrestStandIn, type PostgrestStandIn } from './postgrest-stand-in.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';

const SECRET = 'stand-in-jwt-secret-for-tests-only-0123456789';
const SKIPPER = '0f8e2b6c-5d1a-4c3e-9b7f-2a6d8e4c1b90';
const OTHER = 'b7d3c1a9-2e4f-4a6b-8c0d-9e1f3a5b7c2d';

// 300 dues, a quarter of them the skipper's; dirty text; one amount with more digits than a JavaScript number keeps.
const LEGACY = `
CREATE TABLE harbour_dues (receipt_no integer PRIMARY KEY, payer text NOT NULL, amount numeric(30,2), paid_at timestamptz, channel text, owner_id uuid, memo jsonb);
INSERT INTO harbour_dues
SELECT g, CASE WHEN g % 7 = 0 THEN 'Ærø Fiskeri  ' ELSE 'payer ' || g END, round(g * 10.5, 2),
       timestamptz '2024-02-29 23:59:59.123456+00' + g * interval '1 hour 1 second',
       CASE WHEN g % 3 = 0 THEN 'card' ELSE 'cash' END,
       CASE WHEN g % 4 = 0 THEN '${SKIPPER}'::uuid WHEN g % 4 = 1 THEN '${OTHER}'::uuid END,
       jsonb_build_object('berth', g, 'fee', 1.25, 'note', 'quay "B"')
  FROM generate_series(1, 300) g;
UPDATE harbour_dues SET amount = 12345678901234567890.12 WHERE receipt_no = 77;
UPDATE harbour_dues SET paid_at = NULL, memo = NULL WHERE receipt_no = 150;
`;

const TARGET = `
${SUPABASE_ROLES_SQL}
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid $$;
GRANT USAGE ON SCHEMA auth, public TO anon, authenticated, service_role;
CREATE TYPE pay_channel AS ENUM ('cash', 'card');
CREATE TABLE port_ledger (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, payer text NOT NULL,
  amount numeric(30,2), paid_at timestamptz, channel pay_channel, owner_id uuid, memo jsonb);
GRANT SELECT ON port_ledger TO anon, authenticated, service_role;
ALTER TABLE port_ledger ENABLE ROW LEVEL SECURITY;
CREATE POLICY skippers_read_own_dues ON port_ledger FOR SELECT TO authenticated USING (owner_id = auth.uid());
`;

const key = (claims: Record<string, unknown>) => signJwt({ iss: 'supabase', ...claims }, SECRET);

describe('app visibility through the Data API with supabase-js (against the PostgREST stand-in; real PostgreSQL, real Docker)', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let api: PostgrestStandIn;
  let plan: MigrationPlan;
  let analysis: SchemaAnalysis;
  let migrationId: number;
  let settings: DataApiSettings;

  beforeAll(async () => {
    db = await createDatabasePair('dapi_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    api = await startPostgrestStandIn({ dbUrl: db.target.url, jwtSecret: SECRET });
    settings = dataApiSettings({
      url: api.url,
      anonKey: key({ role: 'anon' }),
      serviceRoleKey: key({ role: 'service_role' }),
      accessToken: key({ role: 'authenticated', sub: SKIPPER, aud: 'authenticated' }),
    })!;
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
    await conn?.close();
    await db?.drop();
  });

  it('after a run, each role reads through the Data API what it reads through Postgres, and the digits a JSON number loses are named by key and column', async () => {
    const planned = await describeToPlan({ description: 'Migrate harbour_dues into port_ledger', conn });
    plan = approvePlan(planned.plan, 'dapi-test');
    analysis = planned.analysis;
    await store.savePlan(plan, planned.analysis, { by: 'dapi-test' });
    const { run, report } = await executeRunForTest(store, {
      plan, analysis: planned.analysis, conn, driver: await dockerDriverForTests(), policy: defaultPolicy, asUser: SKIPPER, dataApi: settings,
    });
    expect(run).toMatchObject({ status: 'completed', inserted: 300 });
    expect(report!.status).toBe('passed');
    migrationId = report!.migrationId;
    const v = report!.appVisibility!;
    expect(ValidationReport.parse(report).appVisibility).toEqual(v);
    const d = v.dataApi!;
    expect(d).toMatchObject({ url: api.url, client: expect.stringContaining('@supabase/supabase-js'), counted: 'whole_table' });
    const read = Object.fromEntries(d.roles.map((r) => [r.role, r]));
    expect(read.anon).toMatchObject({ readable: 0, credential: 'SUPABASE_ANON_KEY', user: null, requests: 1 });
    expect(read.authenticated).toMatchObject({ readable: 75, credential: 'SUPABASE_ACCESS_TOKEN', user: SKIPPER });
    expect(read.service_role).toMatchObject({ readable: 300, credential: 'SUPABASE_SERVICE_ROLE_KEY' });
    // The same counts through Postgres, impersonating the roles.
    expect(Object.fromEntries(v.roles.map((r) => [r.role, r.readable]))).toEqual({ anon: 0, authenticated: 75, service_role: 300 });
    // The counts were HEAD requests with an exact count, as the app asks.
    expect(api.requests.filter((r) => r.method === 'HEAD').map((r) => r.role)).toEqual(['anon', 'authenticated', 'service_role']);

    // The sample: evenly spread rows plus the longest numbers, fetched by key as service_role.
    const s = d.sample!;
    expect(s).toMatchObject({ role: 'service_role', missing: [], more: 0 });
    expect(s.requested).toBeGreaterThan(50);
    expect(s.returned).toBe(s.requested);
    // uuid, enum, timestamptz (microseconds), jsonb, NULLs all read back equal; only the 20-digit amount does not.
    const planted = (await db.sql('target', 'SELECT id::text AS id FROM port_ledger WHERE legacy_id = 77')).rows[0].id as string;
    expect(s.differences).toEqual([
      {
        key: planted, legacyKey: '77', column: 'amount', type: 'numeric(30,2)',
        api: '12345678901234567000', database: '12345678901234567890.12', note: expect.stringMatching(/JSON number.*15–17 significant digits/),
      },
    ]);
    expect(d.warnings).toEqual([expect.stringMatching(/^1 value\(s\) of the sample read through the Data API differ from the database \(column amount\)/)]);

    const text = renderReport(report!);
    expect(text).toContain(`through the Data API (${api.url}, @supabase/supabase-js`);
    expect(text).toMatch(/anon +reads 0\/300 \(through Postgres: 0\/300\) · SUPABASE_ANON_KEY/);
    expect(text).toMatch(new RegExp(`authenticated +reads 75/300 \\(through Postgres: 75/300\\) · SUPABASE_ACCESS_TOKEN, user ${SKIPPER}`));
    expect(text).toContain(`${planted} (legacy 77) amount numeric(30,2): the Data API gave 12345678901234567000, the database holds 12345678901234567890.12`);
  });

  it("a run of several migrations (a queued run's ranges): the sample's rows of every one are named by legacy key", async () => {
    const second = Number(
      (
        await db.sql(
          'target',
          `INSERT INTO ferry_control.migration_control (plan_id, plan_revision, plan_hash, plan, source_table, target_table, status, rows_source, rows_inserted, batches_committed)
           SELECT plan_id, plan_revision, plan_hash, plan, source_table, target_table, status, rows_source, rows_inserted, batches_committed FROM ferry_control.migration_control WHERE id = $1 RETURNING id`,
          [migrationId],
        )
      ).rows[0].id,
    );
    // Legacy 77 (the planted amount) and every key up to 150 now belong to the second migration, as another range's would.
    await db.sql('target', 'UPDATE ferry_control.migration_mappings SET migration_id = $1 WHERE migration_id = $2 AND legacy_id::int <= 150', [second, migrationId]);
    try {
      const v = (await appVisibility({ db: conn.target, plan, migrationId, migrationIds: [migrationId, second], dataApi: settings }))!;
      expect(v.migratedRows).toBe(300);
      expect(v.dataApi!.sample!.differences).toEqual([expect.objectContaining({ legacyKey: '77', column: 'amount' })]);
    } finally {
      await db.sql('target', 'UPDATE ferry_control.migration_mappings SET migration_id = $1 WHERE migration_id = $2', [migrationId, second]);
      await db.sql('target', 'DELETE FROM ferry_control.migration_control WHERE id = $1', [second]);
    }
  });

  it('ferry validate reads through the Data API when SUPABASE_URL and keys are set; a key without the URL is refused before anything opens', async () => {
    const env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, '/nonexistent-ferry-home', 'dapi-cli', {
      SUPABASE_URL: api.url, SUPABASE_ANON_KEY: settings.anonKey, SUPABASE_SERVICE_ROLE_KEY: settings.serviceRoleKey, SUPABASE_ACCESS_TOKEN: settings.accessToken,
    });
    const validated = await runFerry(env, ['validate', String(migrationId), '--as-user', SKIPPER]);
    expect(validated.stderr).toBe('');
    expect(validated.code).toBe(0);
    expect(validated.stdout).toContain(`through the Data API (${api.url}, @supabase/supabase-js 2.109.0`);
    expect(validated.stdout).toMatch(/authenticated +reads 75\/300 \(through Postgres: 75\/300\) · SUPABASE_ACCESS_TOKEN/);
    expect(validated.stdout).toMatch(/\(legacy 77\) amount numeric\(30,2\): the Data API gave 12345678901234567000/);
    // No key ever reaches the output.
    expect(validated.stdout).not.toContain(settings.serviceRoleKey!);

    const partial = await runFerry({ ...env, SUPABASE_URL: '' }, ['validate', String(migrationId)]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain('CONFIG_INVALID');
    expect(partial.stderr).toContain('SUPABASE_URL is not');
  });

  it('a plan set passes --as-user and the Data API to each plan\'s report, as a single plan does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-dapi-set-'));
    try {
      const out = await executeRunSetForTest({
        plans: [{ plan, analysis, dir }], store, conn, driver: await dockerDriverForTests(), policy: defaultPolicy, startedBy: 'dapi-test', asUser: SKIPPER, dataApi: settings,
      });
      const step = out.steps[0]!;
      if (!('result' in step)) throw new Error(`the set's plan did not run: ${JSON.stringify(step)}`);
      // Everything was migrated by the first run: this run's own rows are none, and both paths say so.
      const v = step.result.report!.appVisibility!;
      expect(v).toMatchObject({ asUser: SKIPPER, migratedRows: 0 });
      expect(v.dataApi!.roles.map((r) => [r.role, r.readable])).toEqual([['anon', 0], ['authenticated', 0], ['service_role', 0]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts by key in chunks that keep the URL short when the table holds other rows; a bad token and an unexposed schema are reported, not thrown', async () => {
    await db.sql('target', `INSERT INTO port_ledger (payer, owner_id) VALUES ('walk-in', '${SKIPPER}')`);
    api.requests.length = 0;
    const bad = { ...settings, accessToken: signJwt({ role: 'authenticated', sub: SKIPPER }, 'another-secret') };
    const v = (await appVisibility({ db: conn.target, plan, migrationId, asUser: SKIPPER, dataApi: bad }))!;
    const d = v.dataApi!;
    expect(d.counted).toBe('by_id');
    const read = Object.fromEntries(d.roles.map((r) => [r.role, r]));
    // 300 uuids do not fit one in.(…) filter: several requests, each under the budget, still exact.
    expect(read.service_role!.requests).toBeGreaterThan(1);
    expect(read.service_role).toMatchObject({ readable: 300 });
    expect(read.anon).toMatchObject({ readable: 0 });
    expect(Math.max(...api.requests.map((r) => r.url.length))).toBeLessThan(KEY_FILTER_BUDGET + 200);
    // Its chunks went out together (COUNTS_IN_FLIGHT); the refusal is reported once.
    expect(read.authenticated).toMatchObject({ readable: null, requests: read.service_role!.requests });
    expect(read.authenticated!.error).toMatch(/^HTTP 401.*PGRST301 JWT could not be decoded/);
    expect(d.warnings).toContainEqual(expect.stringMatching(/^authenticated could not count through the Data API: HTTP 401/));

    // A Data API that does not answer: said once, with the cause; the Postgres counts stand.
    const gone = await startPostgrestStandIn({ dbUrl: db.target.url, jwtSecret: SECRET });
    await gone.close();
    const x = (await appVisibility({ db: conn.target, plan, migrationId, dataApi: { ...settings, url: gone.url } }))!;
    expect(x.roles.find((r) => r.role === 'service_role')!.readable).toBe(300);
    expect(x.dataApi!.roles.map((r) => [r.readable, r.error])).toEqual([
      [null, expect.stringMatching(/^no answer: TypeError: fetch failed \(.*ECONNREFUSED/)],
      [null, expect.stringMatching(/^no answer/)],
      [null, expect.stringMatching(/^no answer/)],
    ]);
    expect(x.dataApi!.sample).toBeNull();
    expect(x.dataApi!.warnings).toEqual([expect.stringMatching(new RegExp(`^the Data API at ${gone.url} did not answer: .*ECONNREFUSED.*through Postgres, stand$`))]);

    // A schema the Data API does not expose: every role fails, said so; the Postgres counts stand.
    const narrow = await startPostgrestStandIn({ dbUrl: db.target.url, jwtSecret: SECRET, schemas: ['api'] });
    try {
      const w = (await appVisibility({ db: conn.target, plan, migrationId, dataApi: { ...settings, url: narrow.url } }))!;
      expect(w.roles.find((r) => r.role === 'service_role')!.readable).toBe(300);
      expect(w.dataApi!.roles.map((r) => r.readable)).toEqual([null, null, null]);
      expect(w.dataApi!.roles[0]!.error).toMatch(/HTTP 406.*PGRST106 The schema must be one of the following: api/);
      expect(w.dataApi!.sample!.error).toMatch(/PGRST106/);
    } finally {
      await narrow.close();
    }

    // Every amount beyond a JavaScript number's digits: 40 differences listed, the rest counted, all in the warning.
    await db.sql('target', `UPDATE port_ledger SET amount = 98765432109876543210.99 + coalesce(legacy_id, 0)`);
    const many = (await appVisibility({ db: conn.target, plan, migrationId, dataApi: settings }))!.dataApi!;
    const sampled = many.sample!;
    expect(sampled.differences).toHaveLength(40);
    expect(sampled.more).toBe(sampled.requested - 40);
    expect(new Set(sampled.differences.map((x) => x.column))).toEqual(new Set(['amount']));
    expect(many.warnings).toContainEqual(expect.stringMatching(new RegExp(`^${sampled.requested} value\\(s\\) of the sample read through the Data API differ`)));
  });
});

describe('Data API settings and key chunks', () => {
  const refused = (f: () => unknown): FerryError => {
    try {
      f();
    } catch (e) {
      return e as FerryError;
    }
    throw new Error('not refused');
  };

  it('a partial setting is refused saying what is missing; none set is no Data API', () => {
    expect(loadConfig({}).dataApi).toBeUndefined();
    expect(refused(() => loadConfig({ SUPABASE_ANON_KEY: 'k' }))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('SUPABASE_URL is not') });
    expect(refused(() => loadConfig({ SUPABASE_URL: 'https://abc.supabase.co' })).message).toContain('neither SUPABASE_ANON_KEY nor SUPABASE_SERVICE_ROLE_KEY');
    expect(refused(() => loadConfig({ SUPABASE_URL: 'https://abc.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 's', SUPABASE_ACCESS_TOKEN: 't' })).message).toContain('SUPABASE_ACCESS_TOKEN is set without SUPABASE_ANON_KEY');
    expect(refused(() => loadConfig({ SUPABASE_URL: 'abc.supabase.co', SUPABASE_ANON_KEY: 'k' })).hint).toContain('Project Settings → API');
    expect(refused(() => loadConfig({ SUPABASE_URL: 'http://abc.supabase.co', SUPABASE_ANON_KEY: 'k' }))).toMatchObject({ message: expect.stringContaining('plain http to another machine'), hint: expect.stringContaining('https://abc.supabase.co') });
    expect(loadConfig({ SUPABASE_URL: 'http://127.0.0.1:54321', SUPABASE_ANON_KEY: 'k' }).dataApi?.url).toBe('http://127.0.0.1:54321');
    expect(loadConfig({ SUPABASE_URL: 'https://abc.supabase.co/', SUPABASE_ANON_KEY: 'k' }).dataApi).toEqual({ url: 'https://abc.supabase.co', anonKey: 'k', serviceRoleKey: undefined, accessToken: undefined });
  });

  it('keys are chunked under the budget, quoted values counted, none lost; the stand-in reads them back', () => {
    const keys = Array.from({ length: 500 }, (_v, i) => (i % 50 === 0 ? `o"dd,(${i})` : `k-${i}-${'x'.repeat(i % 30)}`));
    const chunks = chunkKeys(keys, 1000);
    expect(chunks.flat()).toEqual(keys);
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) {
      const filter = `(${c.map((k) => (/[,()"\\:]/.test(k) ? `"${k.replace(/"/g, '\\"')}"` : k)).join(',')})`;
      expect(encodeURIComponent(filter).length).toBeLessThanOrEqual(1000 + 40);
      expect(parseInList(filter)).toEqual(c);
    }
  });
});
