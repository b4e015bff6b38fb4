import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { openConnections } from '../../src/chain.js';
import { FerryError } from '../../src/core/errors.js';
import { assertNotTransactionPoolerUrl, transactionPoolerByUrl } from '../../src/target/pooler.js';
import { loadConfig } from '../../src/config.js';
import { withStore } from '../../src/service/commands.js';
import { RunStore } from '../../src/store/run-store.js';
import { beginWrite } from '../../src/target/timeouts.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { findPgbouncer, startPgbouncer, type Bouncer } from '../setup/pgbouncer.js';

async function refusal(p: Promise<unknown>): Promise<FerryError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error('expected a refusal, the connection was accepted');
}

describe('a transaction-mode pooler named by its URL is refused before any connection is opened', () => {
  it("Supabase's transaction pooler (pooler host, port 6543): TARGET_TRANSACTION_POOLER, pointing at the session pooler on 5432, password hidden", async () => {
    const url = 'postgres://postgres.qzkxlmbhwtrvpjds:S3cr%24t-pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=require';
    // openConnections throws before resolving or dialling anything: no network is touched.
    const e = await refusal(openConnections('postgres://nobody@127.0.0.1:1/legacy_orders', url));
    expect(e.code).toBe('TARGET_TRANSACTION_POOLER');
    expect(e.details).toMatchObject({ detectedBy: 'url' });
    expect(e.message).toContain('aws-0-eu-central-1.pooler.supabase.com:6543');
    expect(e.hint).toContain('aws-0-eu-central-1.pooler.supabase.com:5432');
    expect(e.hint).toContain('postgres.<project-ref>');
    expect(`${e.message} ${e.hint}`).not.toContain('S3cr');
  });

  it("the run store's FERRY_STATE_URL on Supabase's transaction pooler: STATE_TRANSACTION_POOLER, pointing at port 5432", async () => {
    const url = 'postgres://postgres.qzkxlmbhwtrvpjds:S3cr%24t-pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres?sslmode=require';
    const config = loadConfig({ FERRY_STATE_URL: url, TARGET_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/harbour' });
    const e = await refusal(withStore(config, async () => 'opened'));
    expect(e.code).toBe('STATE_TRANSACTION_POOLER');
    expect(e.details).toMatchObject({ detectedBy: 'url' });
    expect(e.message).toMatch(/^the run store \(FERRY_STATE_URL\) URL \(.*aws-0-eu-central-1\.pooler\.supabase\.com:6543/);
    expect(e.hint).toContain('aws-0-eu-central-1.pooler.supabase.com:5432');
    expect(`${e.message} ${e.hint}`).not.toContain('S3cr');
    // Without FERRY_STATE_URL the store lives in the target, and says so with the target's code.
    const inTarget = await refusal(withStore(loadConfig({ TARGET_DATABASE_URL: url }), async () => 'opened'));
    expect(inTarget.code).toBe('TARGET_TRANSACTION_POOLER');
  });

  it('the session pooler (same host, port 5432) and a direct connection pass the URL check', () => {
    expect(transactionPoolerByUrl('postgres://postgres.qzkxlmbhwtrvpjds:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres')).toBeNull();
    expect(transactionPoolerByUrl('postgresql://postgres:pw@db.qzkxlmbhwtrvpjds.supabase.co:5432/postgres')).toBeNull();
    expect(() => assertNotTransactionPoolerUrl('postgresql://postgres:pw@db.qzkxlmbhwtrvpjds.supabase.co:6543/postgres')).toThrow(/transaction-mode pooler/);
  });
});

// PgBouncer comes from Debian's package (.ci/run installs it). Missing in CI is a failure, not a skip.
const binary = findPgbouncer();
const runIt = binary || process.env.CI === 'true' ? it : it.skip;

describe('by behaviour: a real PgBouncer in front of the test PostgreSQL, on an ordinary port', () => {
  let target: TestDatabase;
  let legacy: TestDatabase;
  let bouncer: Bouncer | undefined;

  beforeAll(async () => {
    if (!binary) {
      if (process.env.CI === 'true') throw new Error('pgbouncer is not installed; .ci/run installs it (apt-get install -y pgbouncer)');
      return;
    }
    target = await createTestDatabase('pooled_target');
    legacy = await createTestDatabase('pooled_legacy');
    bouncer = await startPgbouncer({
      binary,
      serverUrl: inject('pgAdminUrl'),
      aliases: {
        shelf_tx: { database: target.name, poolMode: 'transaction' },
        shelf_tx_one: { database: target.name, poolMode: 'transaction', poolSize: 1 },
        shelf_session: { database: target.name, poolMode: 'session' },
      },
    });
  });
  afterAll(async () => {
    await bouncer?.stop();
    await target?.drop();
    await legacy?.drop();
  });

  const schemas = async () => {
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    try {
      return (await c.query<{ n: string }>(`SELECT nspname AS n FROM pg_namespace WHERE nspname IN ('ferry', 'ferry_control')`)).rows.map((r) => r.n);
    } finally {
      await c.end();
    }
  };

  runIt('transaction mode: refused with TARGET_TRANSACTION_POOLER (detected by behaviour), and nothing was written', async () => {
    for (const alias of ['shelf_tx', 'shelf_tx_one']) {
      const url = bouncer!.url(alias);
      const e = await refusal(openConnections(legacy.url, url));
      expect(e.code, alias).toBe('TARGET_TRANSACTION_POOLER');
      expect(e.details, alias).toMatchObject({ detectedBy: 'behaviour' });
      expect(e.message).toContain(`127.0.0.1:${bouncer!.port}/${alias}`);
      expect(e.hint).toMatch(/direct connection|session-mode pooler/);
    }
    expect(await schemas()).toEqual([]);
  });

  runIt('the run store (FERRY_STATE_URL) behind a transaction-mode PgBouncer: refused by behaviour before its schema is created; session mode opens', async () => {
    const config = loadConfig({ FERRY_STATE_URL: bouncer!.url('shelf_tx'), TARGET_DATABASE_URL: target.url });
    const e = await refusal(withStore(config, async () => 'opened'));
    expect(e.code).toBe('STATE_TRANSACTION_POOLER');
    expect(e.details).toMatchObject({ detectedBy: 'behaviour' });
    expect(e.message).toContain(`the run store (FERRY_STATE_URL) connection (postgres://`);
    expect(e.message).toContain(`127.0.0.1:${bouncer!.port}/shelf_tx`);
    expect(e.hint).toMatch(/direct connection|session-mode pooler/);
    expect(await schemas()).toEqual([]);
    const store = await RunStore.open(bouncer!.url('shelf_session'), { setting: 'FERRY_STATE_URL' });
    try {
      expect(await store.failAbandoned()).toEqual([]);
    } finally {
      await store.close();
    }
    expect(await schemas()).toContain('ferry');
  });

  runIt('session mode: accepted, and a write transaction with its own limits works through it', async () => {
    const conn = await openConnections(legacy.url, bouncer!.url('shelf_session'));
    try {
      await beginWrite(conn.target);
      const got = await conn.target.query<{ st: string }>(`SELECT current_setting('statement_timeout') AS st`);
      await conn.target.query('ROLLBACK');
      expect(got.rows[0]!.st).toBe('15min');
    } finally {
      await conn.close();
    }
  });
});
