import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureControlTables } from '../../src/control/control-tables.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { runScript } from '../setup/seed-case.js';

/**
 * The bookkeeping exactly as the previous ferry created it (its CONTROL_DDL's two tables):
 * a bigserial id as primary key, the FK, the legacy key UNIQUE, the btree on (target_table, new_id).
 */
const PREVIOUS_SHAPE = `
CREATE SCHEMA ferry_control;
CREATE TABLE ferry_control.migration_control (
  id bigserial PRIMARY KEY, plan_id text NOT NULL, plan_revision integer NOT NULL, plan_hash text NOT NULL, plan jsonb NOT NULL,
  source_table text NOT NULL, target_table text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'rolled_back')),
  rows_source integer, rows_skipped integer NOT NULL DEFAULT 0, rows_inserted integer NOT NULL DEFAULT 0, rows_rolled_back integer,
  batches_committed integer NOT NULL DEFAULT 0, error_code text, error text, sandbox jsonb,
  started_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, rolled_back_at timestamptz
);
CREATE TABLE ferry_control.migration_mappings (
  id bigserial PRIMARY KEY,
  migration_id bigint NOT NULL REFERENCES ferry_control.migration_control(id),
  batch_id integer NOT NULL,
  source_table text NOT NULL,
  legacy_id text NOT NULL,
  target_table text NOT NULL,
  new_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_table, target_table, legacy_id)
);
CREATE INDEX migration_mappings_run_idx ON ferry_control.migration_mappings (migration_id, batch_id);
CREATE INDEX migration_mappings_new_idx ON ferry_control.migration_mappings (target_table, new_id);
INSERT INTO ferry_control.migration_control (plan_id, plan_revision, plan_hash, plan, source_table, target_table, status)
VALUES ('crates-to-boxes', 3, 'h1', '{}', 'legacy.Crate Inventory', 'public.boxes', 'completed'),
       ('crate-lids', 1, 'h2', '{}', 'legacy.crate_lid', 'public.lids', 'running');
INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES
  (1, 1, 'legacy.Crate Inventory', 'K\\9', 'public.boxes', '5d7c1a8e-0b3e-4c52-9d7e-1f0a6b2c3d41'),
  (1, 1, 'legacy.Crate Inventory', '  padded ', 'public.boxes', '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'),
  (1, 2, 'legacy.Crate Inventory', 'Ünïcødé📦', 'public.boxes', 'f0e1d2c3-b4a5-4968-8776-655443322110'),
  (2, 1, 'legacy.crate_lid', '17', 'public.lids', '17'),
  (2, 1, 'legacy.crate_lid', '-4', 'public.lids', '-4');
`;

const ROWS_SQL = `SELECT migration_id::int AS m, batch_id AS b, source_table AS s, legacy_id AS k, target_table AS t, new_id AS n
                    FROM ferry_control.migration_mappings ORDER BY migration_id, legacy_id COLLATE "C"`;

/** The SQLSTATE a statement fails with, or 'ok'. */
async function codeOf(c: pg.Client, sql: string, params: unknown[] = []): Promise<string> {
  try {
    await c.query(sql, params);
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

describe('migration_mappings: the cheaper shape, and the previous shape upgraded in place', () => {
  let db: TestDatabase;
  const clients: pg.Client[] = [];
  const client = async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await createTestDatabase('mapshape_');
    await runScript(db.url, PREVIOUS_SHAPE);
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await db?.drop();
  });

  it('upgrades the previous shape on start, from two starts at once, keeping every row', async () => {
    const a = await client();
    const before = (await a.query(ROWS_SQL)).rows;
    expect(before).toHaveLength(5);
    // Two ferry processes starting on the old shape at the same moment: both succeed, one upgrades.
    await Promise.all([ensureControlTables(a), ensureControlTables(await client())]);
    expect((await a.query(ROWS_SQL)).rows).toEqual(before);

    const cols = await a.query<{ attname: string; coll: string }>(
      `SELECT attname, attcollation::regcollation::text AS coll FROM pg_attribute
        WHERE attrelid = 'ferry_control.migration_mappings'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    );
    expect(cols.rows).toEqual([
      { attname: 'migration_id', coll: '-' },
      { attname: 'batch_id', coll: '-' },
      { attname: 'source_table', coll: '"C"' },
      { attname: 'legacy_id', coll: '"C"' },
      { attname: 'target_table', coll: '"C"' },
      { attname: 'new_id', coll: '"C"' },
      { attname: 'created_at', coll: '-' },
    ]);
    const cons = await a.query<{ contype: string; def: string }>(
      `SELECT contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'ferry_control.migration_mappings'::regclass AND contype IN ('p', 'u', 'f') ORDER BY 1`,
    );
    expect(cons.rows).toEqual([{ contype: 'p', def: 'PRIMARY KEY (source_table, target_table, legacy_id)' }]);
    const idx = await a.query<{ indexname: string; def: string }>(
      `SELECT indexname, indexdef AS def FROM pg_indexes WHERE schemaname = 'ferry_control' AND tablename = 'migration_mappings' ORDER BY 1`,
    );
    expect(idx.rows.map((r) => r.indexname)).toEqual(['migration_mappings_new_id_idx', 'migration_mappings_pkey', 'migration_mappings_run_idx']);
    expect(idx.rows[0]!.def).toContain('USING hash (new_id)');
    // The id sequence went with its column.
    expect((await a.query(`SELECT to_regclass('ferry_control.migration_mappings_id_seq') AS s`)).rows[0].s).toBeNull();
    // A start on the upgraded shape finds nothing to do and changes nothing.
    await ensureControlTables(a);
    expect((await a.query(ROWS_SQL)).rows).toEqual(before);
  });

  it('still refuses an orphan mapping: by INSERT, by COPY-sized INSERT … SELECT, and by moving a mapping to a run that does not exist', async () => {
    const c = await client();
    expect(await codeOf(c, `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES (404, 1, 'legacy.crate_lid', '99', 'public.lids', '99')`)).toBe('23503');
    // One good run id and one missing among many rows: the statement is refused whole.
    expect(
      await codeOf(
        c,
        `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id)
         SELECT CASE WHEN g = 1500 THEN 405 ELSE 2 END, 3, 'legacy.crate_lid', (1000 + g)::text, 'public.lids', (1000 + g)::text FROM generate_series(1, 2000) g`,
      ),
    ).toBe('23503');
    expect(await codeOf(c, `UPDATE ferry_control.migration_mappings SET migration_id = 406 WHERE legacy_id = '17'`)).toBe('23503');
    expect((await c.query(`SELECT count(*)::int AS n FROM ferry_control.migration_mappings`)).rows[0].n).toBe(5);
    // The message says which run is missing.
    await expect(c.query(`INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES (407, 1, 'x.y', '1', 'x.z', '1')`)).rejects.toThrow(/migration 407/);
    // A mapping for a real run goes in; the legacy key still moves once.
    expect(await codeOf(c, `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES (2, 2, 'legacy.crate_lid', '18', 'public.lids', '18')`)).toBe('ok');
    expect(await codeOf(c, `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES (1, 3, 'legacy.crate_lid', '18', 'public.lids', 'other')`)).toBe('23505');
  });

  it('still refuses deleting, re-keying or truncating a control row that has mappings, and allows it once they are gone', async () => {
    const c = await client();
    expect(await codeOf(c, 'DELETE FROM ferry_control.migration_control WHERE id = 1')).toBe('23503');
    await expect(c.query('DELETE FROM ferry_control.migration_control WHERE id = 1')).rejects.toThrow(/migration 1 still has mappings/);
    expect(await codeOf(c, 'UPDATE ferry_control.migration_control SET id = 100 WHERE id = 2')).toBe('23503');
    expect(await codeOf(c, 'TRUNCATE ferry_control.migration_control')).toBe('23503');
    expect((await c.query('SELECT count(*)::int AS n FROM ferry_control.migration_control')).rows[0].n).toBe(2);
    // Other columns of a control row still change freely (the orchestrator's counters).
    expect(await codeOf(c, `UPDATE ferry_control.migration_control SET rows_inserted = rows_inserted + 1 WHERE id = 2`)).toBe('ok');
    // Without mappings, the control row may go (as with the FK).
    const spare = (await c.query(`INSERT INTO ferry_control.migration_control (plan_id, plan_revision, plan_hash, plan, source_table, target_table, status) VALUES ('spare', 1, 'h', '{}', 'a.b', 'c.d', 'failed') RETURNING id`)).rows[0].id as string;
    expect(await codeOf(c, 'DELETE FROM ferry_control.migration_control WHERE id = $1', [spare])).toBe('ok');
  });

  it('a control row deleted while a batch writes its mappings: the delete waits, then is refused (READ COMMITTED) or fails to serialize (REPEATABLE READ)', async () => {
    const writer = await client();
    const deleter = await client();
    const lockWaits = async (pid: number) => {
      for (let i = 0; i < 200; i++) {
        const r = await writer.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid]);
        if (r.rows[0]?.wait_event_type === 'Lock') return true;
        await new Promise((res) => setTimeout(res, 25));
      }
      return false;
    };
    const deleterPid = (await deleter.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
    for (const [isolation, expected] of [['READ COMMITTED', '23503'], ['REPEATABLE READ', '40001']] as const) {
      const run = (await writer.query(`INSERT INTO ferry_control.migration_control (plan_id, plan_revision, plan_hash, plan, source_table, target_table, status) VALUES ('race', 1, 'h', '{}', 'legacy.pallet', 'public.pallets', 'running') RETURNING id`)).rows[0].id as string;
      await deleter.query(`BEGIN ISOLATION LEVEL ${isolation}`);
      await deleter.query('SELECT 1'); // the REPEATABLE READ snapshot is taken here, before the batch commits
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id)
         SELECT $1, 1, $2, g::text, 'public.pallets', md5(g::text) FROM generate_series(1, 50) g`,
        [run, `legacy.pallet (${isolation})`],
      );
      const deleting = codeOf(deleter, 'DELETE FROM ferry_control.migration_control WHERE id = $1', [run]);
      expect(await lockWaits(deleterPid)).toBe(true);
      await writer.query('COMMIT');
      expect(await deleting).toBe(expected);
      await deleter.query('ROLLBACK');
      expect((await writer.query('SELECT count(*)::int AS n FROM ferry_control.migration_control WHERE id = $1', [run])).rows[0].n).toBe(1);
      expect((await writer.query('SELECT count(*)::int AS n FROM ferry_control.migration_mappings WHERE migration_id = $1', [run])).rows[0].n).toBe(50);
    }
  });

  it('a batch writing mappings for a control row deleted meanwhile is refused', async () => {
    const writer = await client();
    const deleter = await client();
    const run = (await writer.query(`INSERT INTO ferry_control.migration_control (plan_id, plan_revision, plan_hash, plan, source_table, target_table, status) VALUES ('gone', 1, 'h', '{}', 'legacy.skid', 'public.skids', 'running') RETURNING id`)).rows[0].id as string;
    await deleter.query('BEGIN');
    await deleter.query('DELETE FROM ferry_control.migration_control WHERE id = $1', [run]);
    const writing = codeOf(writer, `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES ($1, 1, 'legacy.skid', '1', 'public.skids', 'a')`, [run]);
    await new Promise((res) => setTimeout(res, 200));
    await deleter.query('COMMIT');
    expect(await writing).toBe('23503');
    expect((await writer.query(`SELECT count(*)::int AS n FROM ferry_control.migration_mappings WHERE source_table = 'legacy.skid'`)).rows[0].n).toBe(0);
  });
});
