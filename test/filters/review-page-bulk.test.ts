import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { chromiumForTests } from '../setup/chromium.js';
import { startTestService, TOKEN } from '../service/service-fixture.js';

const browserChoice = chromiumForTests();
const describeWithBrowser = browserChoice.skip === null ? describe : describe.skip;

/** Several flagged values assigned together on the review page, and several left out: one revision each. */
describeWithBrowser(`the review page: many flagged values at once${browserChoice.skip === null ? '' : ` (skipped: ${browserChoice.skip})`}`, () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    t = await startTestService();
    // With Night Floater: four roles no rule knows.
    await t.seed.sql('legacy', `INSERT INTO dispatch_role (name, abbrev, group_id) VALUES ('Zq Alpha', 'ZQA', 11), ('Zq Beta', 'ZQB', 11), ('Zq Gamma', 'ZQG', 11)`);
    profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: browserChoice.path!,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (e) => {
      throw e;
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await t?.stop();
  });

  it('selects two flagged values and assigns them together, then leaves the other two out', async () => {
    await page.goto(`${t.service.url}/#token=${TOKEN}`);
    await page.fill('#describe-text', DEMO_DESCRIPTION);
    await page.click('#describe-form button');
    await page.locator('[data-testid=plan-summary]').waitFor();
    const banner = page.locator('[data-testid=review-banner]');
    await expect.poll(() => banner.textContent(), { timeout: 30_000 }).toContain('4 decision(s)');
    const summary = page.locator('[data-testid=plan-summary]');
    const rowsBefore = Number(/(\d+) source rows/.exec((await summary.textContent()) ?? '')?.[1]);

    // Nothing selected: refused on the page, nothing sent.
    await page.click('[data-testid=assign-selected]');
    await expect.poll(() => page.locator('body').textContent()).toContain('Select one or more flagged values first');

    await page.check('tr[data-source="Zq Alpha"] [data-testid=pick]');
    await page.check('tr[data-source="Zq Beta"] [data-testid=pick]');
    await page.locator('[data-testid=bulk-assign] select').selectOption('remote');
    await page.click('[data-testid=assign-selected]');
    await expect.poll(() => summary.textContent(), { timeout: 30_000 }).toContain('revision 2');
    expect(await banner.textContent()).toContain('2 decision(s)');
    for (const v of ['Zq Alpha', 'Zq Beta']) expect(await page.locator(`tr[data-source="${v}"]`).textContent()).toMatch(/remote[\s\S]*override/);

    await page.check('[data-testid=bulk-assign] input[data-pick-all]');
    await page.click('[data-testid=exclude-selected]');
    await expect.poll(() => summary.textContent(), { timeout: 30_000 }).toContain('revision 3');
    expect(await banner.textContent()).toContain('Nothing needs review');
    const shown = (await summary.textContent()) ?? '';
    expect(shown).toContain('not ["Night Floater","Zq Gamma"] (NULL kept)');
    expect(shown).toContain(`${rowsBefore - 2} source rows`);

    // The run store holds both revisions, each one override set, as the API recorded them.
    const versions = await t.store.listVersions((await t.store.listPlans())[0]!.planId);
    expect(versions.map((v) => v.revision)).toEqual([1, 2, 3]);
    expect(versions[1]!.plan.overrides.map((o) => o.what)).toEqual([expect.stringContaining('"Zq Alpha" → remote'), expect.stringContaining('"Zq Beta" → remote')]);
    expect(versions[2]!.plan.source.filters).toContainEqual({ op: 'exclude', column: expect.any(String), values: ['Night Floater', 'Zq Gamma'] });
  });
});
