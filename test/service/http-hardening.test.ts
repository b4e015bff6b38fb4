import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type BrowserContext } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDriver } from '../../sandbox/local-driver.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { sha256Hex, startService, type RunningService } from '../../src/service/server.js';
import { RunStore } from '../../src/store/run-store.js';
import { analysisFixture, planFixture } from '../code-interpreter/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { chromiumForTests } from '../setup/chromium.js';
import { runFerry } from '../setup/ferry-bin.js';

const TOKEN = 'warehouse-ledger-token-5f1c0e9a7b3d2468';

describe('the HTTP service under hostile requests', () => {
  let db: TestDatabase;
  let store: RunStore;
  let service: RunningService;
  let home: string;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    db = await createTestDatabase('http_hardening');
    store = await RunStore.open(db.url);
    home = await mkdtemp(join(tmpdir(), 'ferry-http-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    service = await startService({
      store,
      sourceUrl: db.url,
      targetUrl: db.url,
      tokenSha256: sha256Hex(TOKEN),
      logger: pino({ level: 'info' }, sink),
      home,
      driver: new LocalDriver(),
      policy: defaultPolicy,
    });
  });
  afterAll(async () => {
    await service?.close();
    await store?.close();
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('checks the token before it decodes the path: a malformed path without a token is 401, with one 400, never 500', async () => {
    const before = logLines.length;
    const anonymous = await fetch(`${service.url}/api/plans/%E0%A4%A`);
    expect(anonymous.status).toBe(401);
    const body = (await anonymous.json()) as Record<string, unknown>;
    expect(JSON.stringify(body)).not.toMatch(/URIError|at decodeURIComponent|\n\s+at /);
    expect(body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });

    const signedIn = await fetch(`${service.url}/api/plans/%E0%A4%A`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(signedIn.status).toBe(400);
    expect(await signedIn.json()).toMatchObject({ error: { code: 'PATH_INVALID' } });
    // No stack trace and no error in the log: both were expected outcomes.
    const logged = logLines.slice(before);
    expect(logged.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(JSON.stringify(logged)).not.toContain('URIError');
  });

  it('accepts the Bearer scheme in any case, and nothing else', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const r = await fetch(`${service.url}/api/plans`, { headers: { authorization: `${scheme} ${TOKEN}` } });
      expect(r.status, scheme).toBe(200);
    }
    for (const header of [`Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer${TOKEN}`]) {
      const r = await fetch(`${service.url}/api/plans`, { headers: { authorization: header } });
      expect(r.status, header).toBe(401);
    }
  });

  it('sends the page with a Content-Security-Policy and X-Frame-Options: DENY', async () => {
    for (const path of ['/', '/app.js', '/app.css']) {
      const r = await fetch(`${service.url}${path}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      const csp = r.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
    }
  });

  const browserChoice = chromiumForTests();
  it.skipIf(browserChoice.skip !== null)(`the page follows a run whose log holds U+2028 and U+2029 to its end${browserChoice.skip === null ? '' : ` (skipped: ${browserChoice.skip})`}`, async () => {
    const plan = planFixture(analysisFixture());
    const { run } = await store.createRun({ plan, mode: 'dry_run', startedBy: 'night-audit' });
    await store.appendEvent(run.id, 1, { type: 'log', line: 'ledger\u2028entry\u2029split' });
    await store.appendEvent(run.id, 2, { type: 'log', line: 'the line after it' });
    await store.finishRun(run.id, { status: 'failed', errorCode: 'TEST_STOP', error: 'stopped by the test' });

    // The stream itself carries the separators escaped.
    const raw = await (await fetch(`${service.url}/api/runs/${run.id}/events`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(raw).not.toMatch(/[\u2028\u2029]/);
    expect(raw).toContain('ledger\\u2028entry\\u2029split');

    const profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-'));
    let browser: BrowserContext | undefined;
    try {
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: browserChoice.path!,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = browser.pages()[0] ?? (await browser.newPage());
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${service.url}/#token=${TOKEN}`);
      await page.evaluate((id) => {
        (globalThis as unknown as { location: { hash: string } }).location.hash = `#/runs/${id}`;
      }, run.id);
      await expect.poll(() => page.locator('#logs').textContent(), { timeout: 60_000 }).toContain('the line after it');
      expect(await page.locator('#logs').textContent()).toContain('ledger\u2028entry\u2029split');
      // The parser itself, on the raw frame a server that does not escape would send.
      const parsed = await page.evaluate(() => (globalThis as unknown as { parseEventBlock(b: string): unknown }).parseEventBlock(`id: 1\nevent: run\ndata: {"type":"log","line":"a\u2028b"}`));
      expect(parsed).toEqual({ type: 'run', data: { type: 'log', line: 'a\u2028b' } });
      expect(problems).toEqual([]);
    } finally {
      await browser?.close();
      await rm(profile, { recursive: true, force: true });
    }
  });

  it('refuses at start-up a token shorter than 32 bytes, saying why and what to do', async () => {
    const r = await runFerry({ PATH: process.env.PATH, HOME: process.env.HOME, FERRY_API_TOKEN: 'hunter2-but-longer', FERRY_HOME: home }, ['serve', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('API_TOKEN_TOO_SHORT');
    expect(r.stderr).toContain('FERRY_API_TOKEN is 18 bytes long; it must be at least 32');
    expect(r.stdout).not.toContain('ferry serve:');
  });
});
