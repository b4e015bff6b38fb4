import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanSet } from '../../src/core/artifacts/migration-plan.js';
import { RunStore, type RunRow } from '../../src/store/run-store.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * Depots and the parcels stored in them: a parent and a child joined by a NOT NULL foreign
 * key, with untidy text (quotes, accents, emoji, trailing blanks, empty strings, NULLs) and
 * gaps in the keys.
 */
const LEGACY = `
CREATE TABLE depots (id integer PRIMARY KEY, label text NOT NULL, city text);
INSERT INTO depots (id, label, city)
SELECT g * 3, CASE g % 4 WHEN 0 THEN 'Depot "' || g || '"' WHEN 1 THEN 'Lager Ösby ' || g || '  ' WHEN 2 THEN '📦 hub ' || g ELSE '' END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'Zone ' || (g % 3) END
  FROM generate_series(1, 14) g;
CREATE TABLE parcels (id integer PRIMARY KEY, depot_id integer NOT NULL REFERENCES depots(id), weight_kg numeric(8,3) NOT NULL, note text);
INSERT INTO parcels (id, depot_id, weight_kg, note)
SELECT 1000 + g * 7, ((g % 14) + 1) * 3, round((g * 1.137)::numeric, 3), CASE WHEN g % 6 = 0 THEN NULL WHEN g % 6 = 1 THEN 'fragile; it''s glass' ELSE 'parcel #' || g END
  FROM generate_series(1, 57) g;
`;

const TARGET = `
CREATE TABLE depots (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, label text NOT NULL, city text);
CREATE TABLE parcels (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_id integer UNIQUE,
  depot_id uuid NOT NULL REFERENCES depots(id),
  weight_kg numeric(8,3) NOT NULL,
  note text
);
`;

describe('ferry run <plan set>: --dry-run writes nothing, --parallel is honoured, every plan is recorded and replayable', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let setPath: string;
  let planIds: { depots: string; parcels: string };
  const ferry = (...args: string[]) => runFerry(env, args);
  /** Rows of a table, or none when the table does not exist (yet): ferry creates its bookkeeping tables on first use. */
  const rowsOf = async (table: string, sql: string) =>
    (await db.sql('target', 'SELECT to_regclass($1) IS NOT NULL AS present', [table])).rows[0]!.present ? (await db.sql('target', sql)).rows : [];
  /** Every row in the target a run could touch. */
  const targetState = async () => ({
    depots: await rowsOf('public.depots', 'SELECT id, legacy_id, label, city FROM depots ORDER BY legacy_id'),
    parcels: await rowsOf('public.parcels', 'SELECT id, legacy_id, depot_id, weight_kg, note FROM parcels ORDER BY legacy_id'),
    control: await rowsOf('ferry_control.migration_control', 'SELECT id, status, rows_inserted FROM ferry_control.migration_control ORDER BY id'),
    mappings: await rowsOf('ferry_control.migration_mappings', 'SELECT source_table, legacy_id, new_id FROM ferry_control.migration_mappings ORDER BY source_table, legacy_id'),
  });
  const runsAfter = async (after: number): Promise<RunRow[]> => {
    const store = await RunStore.open(db.target.url);
    try {
      return (await store.listRuns({ limit: 100 })).filter((r) => r.id > after).sort((a, b) => a.id - b.id);
    } finally {
      await store.close();
    }
  };
  const eventsOf = async (runId: number) => {
    const store = await RunStore.open(db.target.url);
    try {
      return (await store.events(runId)).map((e) => e.event);
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('pset_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-pset-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'set-tester');
    const planned = await ferry('plan', 'move depots, then parcels');
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    setPath = /Plan set written to (\S+):/.exec(planned.stdout)![1]!;
    const set = PlanSet.parse(JSON.parse(await readFile(setPath, 'utf8')));
    expect(set.plans.map((p) => p.targetTable)).toEqual(['public.depots', 'public.parcels']);
    expect(set.plans[1]!.dependsOn).toEqual([set.plans[0]!.planId]);
    planIds = { depots: set.plans[0]!.planId, parcels: set.plans[1]!.planId };
    const approved = await ferry('approve', setPath);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  let lastRun = 0;

  it('a dry run of the set leaves every target table as it was and records one dry run per plan; the child is not run and says why', async () => {
    const before = await targetState();
    const dry = await ferry('run', setPath, '--dry-run');
    expect(dry.stderr).toBe('');
    expect(await targetState()).toEqual(before);
    expect(before.depots).toHaveLength(0);

    expect(dry.stdout).toContain('depots → depots: dry run completed, 14 rows would be written');
    expect(dry.stdout).toMatch(/⏭ parcels → parcels: not dry-run: it resolves depot_id through the mappings of public\.depots → public\.depots \(only dry-run here, 14 row\(s\) still to write\)/);
    expect(dry.stdout).toContain('Nothing was written');
    expect(dry.stdout).toContain('1 of 2 plans dry-run, 1 not checked until their parents run for real; nothing was written');
    // Not every plan could be checked: the dry run of the set does not pass.
    expect(dry.code).toBe(1);

    const runs = await runsAfter(lastRun);
    expect(runs.map((r) => [r.planId, r.mode, r.status, r.errorCode])).toEqual([
      [planIds.depots, 'dry_run', 'completed', null],
      [planIds.parcels, 'dry_run', 'failed', 'PARENT_ONLY_DRY_RUN'],
    ]);
    expect(runs[0]!.migrationId).toBeNull();
    expect(runs[0]!.rowKeys).toHaveLength(14);
    expect(runs[0]!.rowsChecksum).toMatch(/^[0-9a-f]{64}$/);
    expect(runs[1]!.bundleSha256).toBeNull();
    lastRun = runs.at(-1)!.id;
  });

  let realRuns: RunRow[] = [];

  it('--parallel 2 on a set runs each plan in two key ranges, each plan recorded with its partitions', async () => {
    const ran = await ferry('run', setPath, '--parallel', '2');
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('plan set completed: 2 migrations');
    expect(ran.stdout).toContain('2 key ranges side by side');
    expect((await targetState()).parcels).toHaveLength(57);
    // Every parcel points at the depot its legacy row named.
    const joined = await db.sql(
      'target',
      `SELECT count(*)::int AS n FROM parcels p JOIN depots d ON d.id = p.depot_id WHERE d.legacy_id = ((((p.legacy_id - 1000) / 7) % 14) + 1) * 3`,
    );
    expect(joined.rows[0]!.n).toBe(57);

    realRuns = await runsAfter(lastRun);
    expect(realRuns.map((r) => [r.planId, r.mode, r.status])).toEqual([
      [planIds.depots, 'run', 'completed'],
      [planIds.parcels, 'run', 'completed'],
    ]);
    for (const r of realRuns) {
      expect(r.outcome).toMatchObject({ parallel: 2 });
      expect(r.reportHash).not.toBeNull();
      const events = await eventsOf(r.id);
      expect(events.find((e) => e.type === 'started')).toMatchObject({ parallel: 2 });
      const workers = events.filter((e) => e.type === 'sandbox_started').map((e) => e.worker);
      expect(workers.sort()).toEqual([0, 1]);
    }
    expect(ran.stdout).toContain(`recorded as run(s) ${realRuns.map((r) => r.id).join(', ')}`);
    lastRun = realRuns.at(-1)!.id;
  });

  it('a run of the set can be replayed: ferry replay <run> of its child reproduces', async () => {
    const child = realRuns[1]!;
    const replayed = await ferry('replay', String(child.id));
    expect(replayed.stderr).toBe('');
    expect(replayed.stdout).toContain('reproduced: 57 rows');
    expect(replayed.code).toBe(0);
    const parent = await ferry('replay', String(realRuns[0]!.id));
    expect(parent.stdout).toContain('reproduced: 14 rows');
    expect(parent.code).toBe(0);
    lastRun = (await runsAfter(lastRun)).at(-1)!.id;
  });

  it('once the parent has run for real, a dry run of the set checks the child too, against the real mappings, and still writes nothing', async () => {
    await db.sql('legacy', `INSERT INTO parcels (id, depot_id, weight_kg, note) VALUES (5001, 6, 0.5, 'late "arrival"'), (5002, 42, 12.25, NULL)`);
    const before = await targetState();
    const dry = await ferry('run', setPath, '--dry-run', '--parallel', '2');
    expect(dry.stderr).toBe('');
    expect(await targetState()).toEqual(before);
    expect(dry.stdout).toContain('depots → depots: dry run completed, 0 rows would be written, 14 already migrated');
    expect(dry.stdout).toContain('parcels → parcels: dry run completed, 2 rows would be written, 57 already migrated');
    expect(dry.stdout).toContain('dry run of the plan set completed: 2 of 2 plans dry-run; nothing was written');
    expect(dry.code).toBe(0);
    const runs = await runsAfter(lastRun);
    expect(runs.map((r) => [r.planId, r.mode, r.status, (r.outcome as { parallel?: number } | null)?.parallel])).toEqual([
      [planIds.depots, 'dry_run', 'completed', 2],
      [planIds.parcels, 'dry_run', 'completed', 2],
    ]);
  });

  it("refuses the whole set when the second plan's tables changed since it was made (the drift check reads every plan's tables), and writes nothing", async () => {
    await db.sql('legacy', 'ALTER TABLE parcels ALTER COLUMN note TYPE varchar(200)');
    await db.sql('target', `ALTER TABLE parcels ADD COLUMN route_code text NOT NULL DEFAULT 'R1'; ALTER TABLE parcels ALTER COLUMN route_code DROP DEFAULT`);
    try {
      const before = await targetState();
      const refused = await ferry('run', setPath);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('ANALYSIS_STALE');
      expect(refused.stderr).toContain('source public.parcels.note changed type: text → character varying(200)');
      expect(refused.stderr).toContain('target public.parcels.route_code is a new required column the plan does not fill');
      expect(refused.stderr).not.toContain('depots');
      expect(await targetState()).toEqual(before);
    } finally {
      await db.sql('target', 'ALTER TABLE parcels DROP COLUMN route_code');
      await db.sql('legacy', 'ALTER TABLE parcels ALTER COLUMN note TYPE text');
    }
  });
});
