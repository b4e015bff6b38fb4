import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDriver } from '../../sandbox/local-driver.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { silentLogger } from '../../src/logger.js';
import { sha256Hex, startService, type RunningService } from '../../src/service/server.js';
import { RunStore } from '../../src/store/run-store.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

const TOKEN = 'freight-dock-ledger-token-77a1c3e5f9b2d40';

/** The route table as a client meets it: a known path with the wrong method, an unknown path. */
describe('the service route table', () => {
  let db: TestDatabase;
  let store: RunStore;
  let service: RunningService;
  let home: string;

  beforeAll(async () => {
    db = await createTestDatabase('route_table');
    store = await RunStore.open(db.url);
    home = await mkdtemp(join(tmpdir(), 'ferry-routes-'));
    service = await startService({ store, sourceUrl: db.url, targetUrl: db.url, tokenSha256: sha256Hex(TOKEN), logger: silentLogger, home, driver: new LocalDriver(), policy: defaultPolicy });
  });
  afterAll(async () => {
    await service?.close();
    await store?.close();
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, token: string | null = TOKEN) => {
    const res = await fetch(`${service.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    return { status: res.status, allow: res.headers.get('allow'), type: res.headers.get('content-type'), body: JSON.parse(text) as { error: { code: string; message: string } } };
  };

  it.each([
    ['DELETE', '/api/plans', 'GET'],
    ['PUT', '/api/plans/Weigh%20Bridge-7', 'GET'],
    ['DELETE', '/api/runs', 'GET, POST'],
    ['GET', '/api/runs/41/replay', 'POST'],
    ['PATCH', '/api/plans/x/approve', 'POST'],
    ['POST', '/api/health', 'GET'],
    ['POST', '/', 'GET'],
  ])('%s %s is 405 with Allow: %s, as JSON with a stable code', async (method, path, allow) => {
    const r = await call(method, path);
    expect(r.status).toBe(405);
    expect(r.allow).toBe(allow);
    expect(r.type).toContain('application/json');
    expect(r.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(r.body.error.message).toContain(allow);
  });

  it.each([
    ['GET', '/api/nothing-here'],
    ['GET', '/api/plans/x/approve/twice'],
    ['POST', '/api/runs/7/rollback/now'],
    ['GET', '/favicon.ico'],
  ])('%s %s is 404 ROUTE_NOT_FOUND, as JSON', async (method, path) => {
    const r = await call(method, path);
    expect(r).toMatchObject({ status: 404, allow: null, body: { error: { code: 'ROUTE_NOT_FOUND' } } });
    expect(r.type).toContain('application/json');
  });

  it('says nothing about /api routes before the token: a wrong method without one is 401, not 405', async () => {
    const r = await call('DELETE', '/api/plans', null);
    expect(r).toMatchObject({ status: 401, allow: null, body: { error: { code: 'UNAUTHORIZED' } } });
  });

  it('matches parameters on decoded segments: an encoded slash stays inside one id', async () => {
    const r = await call('GET', '/api/plans/depot%2Fnorth');
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'PLAN_NOT_FOUND' } } });
    expect(r.body.error.message).toContain('depot/north');
  });
});
