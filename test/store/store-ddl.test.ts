import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/store/run-store.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

async function sql<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text)).rows;
  } finally {
    await c.end();
  }
}

/**
 * The run store's DDL runs once per version of it: the schema's comment names the DDL that
 * made it, and an open that finds it skips the DDL (its ALTERs lock every table). A store
 * whose marker is gone or different gets the DDL again, which repairs what is missing.
 */
describe('the run store schema, made once', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('store_ddl_');
  });
  afterAll(async () => {
    await db?.drop();
  });

  const marker = async () => (await sql<{ c: string | null }>(db.url, `SELECT obj_description(oid, 'pg_namespace') AS c FROM pg_namespace WHERE nspname = 'ferry'`))[0]?.c ?? null;
  const hasTable = async (name: string) => (await sql<{ t: string | null }>(db.url, `SELECT to_regclass('ferry.${name}')::text AS t`))[0]?.t !== null;

  it('marks the schema after its DDL; an open that finds the mark does not run the DDL again', async () => {
    const first = await RunStore.open(db.url);
    await first.close();
    const mark = await marker();
    expect(mark).toMatch(/^ferry run store [0-9a-f]{64}$/);
    // Dropped behind ferry's back while the mark stays: the next open trusts the mark and leaves it dropped.
    await sql(db.url, 'DROP TABLE ferry.api_tokens');
    const second = await RunStore.open(db.url);
    await second.close();
    expect(await hasTable('api_tokens')).toBe(false);
  });

  it('runs the DDL again when the mark is not its own (another ferry version, or none), and marks the schema anew', async () => {
    await sql(db.url, `COMMENT ON SCHEMA ferry IS 'ferry run store 0000'`);
    const store = await RunStore.open(db.url);
    try {
      expect(await hasTable('api_tokens')).toBe(true);
      expect(await marker()).toMatch(/^ferry run store [0-9a-f]{64}$/);
      expect(await store.failAbandoned()).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
