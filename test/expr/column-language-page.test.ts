import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { chromiumForTests } from '../setup/chromium.js';
import { startTestService, TOKEN } from '../service/service-fixture.js';

const browserChoice = chromiumForTests();
const describeWithBrowser = browserChoice.skip === null ? describe : describe.skip;

/** The review page shows an expression column as code, with the columns and parent paths it reads. */
describeWithBrowser(`the review page shows column expressions${browserChoice.skip === null ? '' : ` (skipped: ${browserChoice.skip})`}`, () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  let browser: BrowserContext;
  let profile: string;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${t.service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await res.json()) as any;
  };

  beforeAll(async () => {
    t = await startTestService();
    profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-expr-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: browserChoice.path!,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await t?.stop();
  });

  it('lists the expression as code and what it reads, next to the other origins', async () => {
    const planId: string = (await api('POST', '/api/describe', { description: DEMO_DESCRIPTION })).plan.id;
    const overridden = await api('POST', `/api/plans/${planId}/overrides`, {
      revision: 1,
      column: [{ target: 'role_name', origin: "initcap(name) || ' <' || coalesce(user_id.username, '?') || '>'" }],
    });
    expect(overridden.plan.revision).toBe(2);
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (e) => {
      throw e;
    });
    await page.goto(`${t.service.url}/#token=${TOKEN}`);
    await expect.poll(() => page.url()).not.toContain(TOKEN);
    await page.evaluate((id) => {
      (globalThis as unknown as { location: { hash: string } }).location.hash = `#/plans/${encodeURIComponent(id)}`;
    }, planId);
    const code = page.locator('[data-testid=expression]');
    await code.waitFor();
    expect(await code.textContent()).toBe("initcap(name) || ' <' || coalesce(user_id.username, '?') || '>'");
    expect(await code.evaluate((el) => el.tagName)).toBe('CODE');
    const reads = await page.locator('[data-testid=expression-reads]').textContent();
    expect(reads).toBe('reads name, user_id.username · re-derived by validation');
  });
});
