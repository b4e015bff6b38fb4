import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureControlTables } from '../../src/control/control-tables.js';
import { sha256 } from '../../src/core/artifacts/hash.js';
import { QUEUE_DDL, QueueDb } from '../../src/queue/queue-db.js';
import { RunStore, STORE_DDL } from '../../src/store/run-store.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

/**
 * Workers and the coordinator start together on a fresh run store (and target): each finds
 * the run store's, the queue's or the control tables missing and queues on that DDL lock. The first makes them, then writes (a plan's state, an
 * event); the others must then take no table lock, or they wait behind that writer while it
 * waits behind them: CI once ended `ferry run --queue` with "deadlock detected".
 */
describe('processes starting together on a fresh database take no table lock once the first made the tables', () => {
  let db: TestDatabase;
  const clients: pg.Client[] = [];
  const client = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await createTestDatabase('ddlrace_');
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await db?.drop();
  });

  /** Resolves when some backend waits for a lock of the given kind (a relation in `schema`, or an advisory lock). */
  async function someoneWaits(watch: pg.Client, on: { schema: string } | 'advisory'): Promise<string> {
    for (;;) {
      const r = await watch.query<{ what: string }>(
        on === 'advisory'
          ? `SELECT 'advisory' AS what FROM pg_locks WHERE NOT granted AND locktype = 'advisory' LIMIT 1`
          : `SELECT l.mode || ' on ' || c.relname AS what FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT l.granted AND n.nspname = $1 LIMIT 1`,
        on === 'advisory' ? [] : [on.schema],
      );
      if (r.rows[0]) return r.rows[0].what;
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  it('the queue tables: a second QueueDb.open that waited on the DDL lock does not lock plans or events behind a writer', async () => {
    const [holder, writer, watch] = [await client(), await client(), await client()];
    await holder.query(`SELECT pg_advisory_lock(hashtext('ferry:queue-ddl'))`);
    // The second process: finds no tables, waits on the DDL lock.
    const opening = QueueDb.open(db.url);
    await someoneWaits(watch, 'advisory');
    // The first makes the tables, and the coordinator starts writing in a transaction.
    await holder.query(QUEUE_DDL);
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE ferry_queue.plans, ferry_queue.events IN ROW EXCLUSIVE MODE');
    await holder.query(`SELECT pg_advisory_unlock(hashtext('ferry:queue-ddl'))`);
    const outcome = await Promise.race([
      opening.then((q) => ({ opened: q })),
      someoneWaits(watch, { schema: 'ferry_queue' }).then((waits) => ({ waits })),
    ]);
    await writer.query('COMMIT');
    const queue = await opening;
    await queue.close();
    expect(outcome).toHaveProperty('opened');
  });

  it('the queue tables already in place: opening takes no lock at all', async () => {
    const [writer, watch] = [await client(), await client()];
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE ferry_queue.plans, ferry_queue.events, ferry_queue.partitions IN ROW EXCLUSIVE MODE');
    const opening = QueueDb.open(db.url);
    const outcome = await Promise.race([opening.then((q) => ({ opened: q })), someoneWaits(watch, { schema: 'ferry_queue' }).then((waits) => ({ waits }))]);
    await writer.query('COMMIT');
    await (await opening).close();
    expect(outcome).toHaveProperty('opened');
  });

  it('the control tables: a second ensureControlTables that waited on the DDL lock does not lock migration_control behind a writer', async () => {
    const [holder, writer, second, watch] = [await client(), await client(), await client(), await client()];
    await holder.query('SELECT pg_advisory_lock($1)', [0x66657272]);
    const ensuring = ensureControlTables(second).then(() => 'done' as const);
    await someoneWaits(watch, 'advisory');
    // The holder already holds the lock (session locks stack), so its own call makes the tables.
    await ensureControlTables(holder);
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE ferry_control.migration_control, ferry_control.migration_mappings IN ROW EXCLUSIVE MODE');
    await holder.query('SELECT pg_advisory_unlock($1)', [0x66657272]);
    const outcome = await Promise.race([ensuring, someoneWaits(watch, { schema: 'ferry_control' })]);
    await writer.query('COMMIT');
    await ensuring;
    expect(outcome).toBe('done');
  });

  it('the run store: a second RunStore.open that waited on the DDL lock does not lock the store behind a writer', async () => {
    const [holder, writer, watch] = [await client(), await client(), await client()];
    await holder.query('SELECT pg_advisory_lock($1)', [0x66727374]);
    const opening = RunStore.open(db.url);
    await someoneWaits(watch, 'advisory');
    // What the first process's open does under the lock: the DDL and the schema's mark.
    await holder.query(STORE_DDL);
    await holder.query(`COMMENT ON SCHEMA ferry IS 'ferry run store ${sha256(STORE_DDL)}'`);
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE ferry.runs, ferry.plan_versions IN ROW EXCLUSIVE MODE');
    await holder.query('SELECT pg_advisory_unlock($1)', [0x66727374]);
    const outcome = await Promise.race([opening.then((s) => ({ opened: s })), someoneWaits(watch, { schema: 'ferry' }).then((waits) => ({ waits }))]);
    await writer.query('COMMIT');
    await (await opening).close();
    expect(outcome).toHaveProperty('opened');
  });
});
