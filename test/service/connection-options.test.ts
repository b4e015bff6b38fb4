import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionOptions, loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { ServiceContext } from '../../src/service/context.js';
import { serve } from '../../src/service/serve.js';
import { sha256Hex } from '../../src/service/server.js';
import { RunStore } from '../../src/store/run-store.js';
import { beginWrite } from '../../src/target/timeouts.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const TOKEN = 'connection-options-token-0123456789abcdef';

describe('ferry serve opens its connections as the CLI does: the same TLS settings and write limits from the configuration', () => {
  let db: DatabasePair;
  let home: string;

  beforeAll(async () => {
    db = await createDatabasePair('svcopt_', {
      legacy: (url) => runScript(url, 'CREATE TABLE ferry_berths (berth_no integer PRIMARY KEY, quay text)'),
      target: (url) => runScript(url, 'CREATE TABLE moorings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, quay text)'),
    });
    home = await mkdtemp(join(tmpdir(), 'ferry-svcopt-'));
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("PGSSLROOTCERT reaches the service's target connection: a missing CA file is named, as in the CLI", async () => {
    const verifying = `${db.target.url}${db.target.url.includes('?') ? '&' : '?'}sslmode=verify-full`;
    const config = loadConfig(
      { SOURCE_DATABASE_URL: db.legacy.url, TARGET_DATABASE_URL: verifying, FERRY_STATE_URL: db.target.url, PGSSLROOTCERT: '/nonexistent/ferry-svcopt-ca.pem', FERRY_HOME: home, FERRY_SANDBOX: 'local' },
      home,
    );
    const served = await serve(config, { port: 0, demo: false, token: TOKEN, allowWeakSandbox: true }, () => undefined);
    try {
      const res = await fetch(`${served.service.url}/api/describe`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ description: 'Migrate ferry_berths into moorings' }),
      });
      const body = (await res.json()) as { error: { code: string; message: string; hint?: string } };
      expect(body.error.code).toBe('DB_TLS_FAILED');
      expect(body.error.message).toContain('ferry-svcopt-ca.pem');
      expect(body.error.hint).toMatch(/CA file named by sslrootcert \(or PGSSLROOTCERT\) does not exist/);
    } finally {
      await served.stop();
    }
  });

  it("the write limits (FERRY_*_TIMEOUT_MS) hold in the service's write transactions", async () => {
    const config = loadConfig({ FERRY_STATEMENT_TIMEOUT_MS: '4321000', FERRY_LOCK_TIMEOUT_MS: '2500', FERRY_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0' }, home);
    const store = await RunStore.open(db.target.url);
    try {
      const ctx = new ServiceContext({
        store, sourceUrl: db.legacy.url, targetUrl: db.target.url, tokenSha256: sha256Hex(TOKEN), logger: silentLogger, home,
        driver: await dockerDriverForTests(), policy: defaultPolicy, connection: connectionOptions(config),
      });
      const got = await ctx.withConnections(async (conn) => {
        await beginWrite(conn.target);
        try {
          return (await conn.target.query<{ st: string; lt: string; it: string }>(
            `SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS it`,
          )).rows[0];
        } finally {
          await conn.target.query('ROLLBACK');
        }
      });
      expect(got).toEqual({ st: '4321s', lt: '2500ms', it: '0' });
    } finally {
      await store.close();
    }
  });
});
