import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { ensureControlTables, insertControl } from '../../src/control/control-tables.js';
import { contentHash } from '../../src/core/artifacts/hash.js';
import { programColumns } from '../../src/core/plan/expected-row.js';
import { loadConfig } from '../../src/config.js';
import { FerryError } from '../../src/core/errors.js';
import { makeBatchWriter } from '../../src/orchestrator/write-batch.js';
import { beginWriteSql, DEFAULT_TRANSACTION_TIMEOUTS, openingRetried, OPENING_ATTEMPTS, parseTimeouts } from '../../src/target/timeouts.js';
import type { Queryable } from '../../src/core/sql.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const LEGACY = `
CREATE TABLE hull_surveys (survey_no integer PRIMARY KEY, vessel text NOT NULL, remarks text);
INSERT INTO hull_surveys VALUES (3, 'MV Ærøskøbing', 'pitting\\tport side'), (8, 'Kestrel  ', NULL);
`;
const TARGET = `
CREATE TABLE surveys (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, vessel text NOT NULL, remarks text);
`;

describe('each write transaction sets its own statement_timeout, lock_timeout and idle_in_transaction_session_timeout', () => {
  it('the SQL: BEGIN and three SET LOCALs in one string, from validated milliseconds', () => {
    expect(beginWriteSql({ statementTimeoutMs: 600000, lockTimeoutMs: 2500, idleInTransactionTimeoutMs: 0 })).toBe(
      'BEGIN; SET LOCAL statement_timeout = 600000; SET LOCAL lock_timeout = 2500; SET LOCAL idle_in_transaction_session_timeout = 0',
    );
    expect(() => beginWriteSql({ statementTimeoutMs: -1, lockTimeoutMs: 1, idleInTransactionTimeoutMs: 1 })).toThrow(FerryError);
  });

  it('configurable through the environment; a bad value is refused by name', () => {
    expect(loadConfig({}).timeouts).toEqual(DEFAULT_TRANSACTION_TIMEOUTS);
    expect(parseTimeouts({ FERRY_LOCK_TIMEOUT_MS: '4000' })).toEqual({ ...DEFAULT_TRANSACTION_TIMEOUTS, lockTimeoutMs: 4000 });
    let caught: unknown;
    try {
      parseTimeouts({ FERRY_STATEMENT_TIMEOUT_MS: '10 minutes' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FerryError);
    expect((caught as FerryError).code).toBe('CONFIG_INVALID');
    expect((caught as FerryError).message).toContain('FERRY_STATEMENT_TIMEOUT_MS');
    expect((caught as FerryError).message).toContain('"10 minutes"');
  });

  describe('real PostgreSQL: a role whose default statement_timeout is 1 ms', () => {
    let db: DatabasePair;
    let conn: Connections;
    let slow: Connections | undefined;
    const role = `hasty_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');

    beforeAll(async () => {
      db = await createDatabasePair('tmo_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
      conn = await openConnections(db.legacy.url, db.target.url);
      await db.sql('target', `CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
      await db.sql('target', `ALTER ROLE ${role} SET statement_timeout = '1ms'`);
    });
    afterAll(async () => {
      await slow?.close();
      await conn?.close();
      await db?.drop();
      await db?.sql('legacy', `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    });

    it("an opening string cancelled by the role's own limit before its SET LOCAL took over is rolled back and tried again", async () => {
      // A real statement timeout on the first attempt: the session's limit is 20 ms and the
      // first attempt's opening statement sleeps past it (as BEGIN can, on a busy machine, past 1 ms).
      const client = conn.target;
      await client.query(`SET statement_timeout = '20ms'`);
      const sent: string[] = [];
      let first = true;
      const db: Queryable = {
        query: ((text: string) => {
          const sql = first && text.startsWith('BEGIN') ? `SELECT pg_sleep(0.2); ${text}` : text;
          if (text.startsWith('BEGIN')) first = false;
          sent.push(sql);
          return client.query(sql);
        }) as Queryable['query'],
      };
      try {
        const results = await openingRetried<Array<{ rows: Array<{ v: number }> }>>(db, 'BEGIN; SET LOCAL statement_timeout = 0; SELECT 41 + 1 AS v; COMMIT');
        expect(results[2]!.rows[0]!.v).toBe(42);
        expect(sent.map((q) => q.split(';')[0])).toEqual(['SELECT pg_sleep(0.2)', 'ROLLBACK', 'BEGIN']);
        // A limit that fires every time is given up after OPENING_ATTEMPTS, with PostgreSQL's error.
        let tries = 0;
        const always: Queryable = {
          query: ((text: string) => {
            if (text.startsWith('BEGIN')) tries++;
            return client.query(text.startsWith('ROLLBACK') ? text : `SELECT pg_sleep(0.2); ${text}`);
          }) as Queryable['query'],
        };
        await expect(openingRetried(always, 'BEGIN; SELECT 1')).rejects.toThrow(/statement timeout/);
        expect(tries).toBe(OPENING_ATTEMPTS);
      } finally {
        await client.query('RESET statement_timeout');
      }
    });

    it("does not kill a batch: 20,000 rows are written in one transaction under the run's own limits", async () => {
      const planned = await describeToPlan({ description: 'Migrate hull_surveys into surveys', conn });
      expect(planned.plan.target.table).toBe('surveys');
      const plan = approvePlan(planned.plan, 'tmo-test');
      await ensureControlTables(conn.target);
      const migrationId = await insertControl(conn.target, plan, contentHash(plan));
      const cols = programColumns(plan).map((c) => c.target);
      expect(cols).toEqual(expect.arrayContaining(['vessel', 'remarks']));
      const rows = Array.from({ length: 20_000 }, (_, i) => {
        const r: Record<string, unknown> = {};
        for (const c of cols) r[c] = c === 'legacy_id' ? i + 1 : c === 'vessel' ? `Vessel ${i} "Ødegaard"` : `remark ${'x'.repeat(i % 200)}\\ ${i}`;
        return { k: String(i + 1), r };
      });
      const sent = new Map(rows.map((r) => [r.k, { survey_no: Number(r.k) }]));

      const url = new URL(db.target.url);
      url.username = role;
      url.password = password;
      slow = await openConnections(db.legacy.url, url.toString());
      // The role's default is in force on the connection: a plain statement of some length is cancelled.
      await expect(slow.target.query('SELECT count(*) FROM generate_series(1, 3000000)')).rejects.toThrow(/statement timeout/);

      const inserted = await makeBatchWriter(plan, migrationId, false).write(slow.target, 1, rows, sent);
      expect(inserted).toBe(20_000);
      const c = await db.sql('target', 'SELECT count(*)::int AS n FROM surveys');
      expect(c.rows[0].n).toBe(20_000);
      // SET LOCAL: the session's own setting is untouched once the transaction is over. Reading it
      // is itself a statement under that 1 ms limit: on a loaded machine it may be cancelled
      // (57014) before it answers, which changes nothing, so it is asked again.
      let st: string | undefined;
      for (let attempt = 0; st === undefined && attempt < 100; attempt++) {
        st = await slow.target
          .query<{ statement_timeout: string }>('SHOW statement_timeout')
          .then((r) => r.rows[0]?.statement_timeout)
          .catch((e: { code?: string }) => {
            if (e.code !== '57014') throw e;
            return undefined;
          });
      }
      expect(st).toBe('1ms');
    });
  });
});
