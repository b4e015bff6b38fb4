import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { chromiumForTests } from '../setup/chromium.js';
import { startTestService, TOKEN } from './service-fixture.js';

/** Screenshots are kept for people to look at after the run (test-artifacts/ is not committed). */
const SHOTS = resolve(__dirname, '../../test-artifacts/review-page');

const browserChoice = chromiumForTests();
const describeWithBrowser = browserChoice.skip === null ? describe : describe.skip;

describeWithBrowser(`the review page in a real headless Chromium${browserChoice.skip === null ? '' : ` (skipped: ${browserChoice.skip})`}`, () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    t = await startTestService({ dataApi: true });
    await mkdir(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await t?.stop();
  });
  // A fresh browser profile for each test: a token or page state one test left cannot reach another.
  beforeEach(async () => {
    profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-'));
    // playwright passes the profile directory as --user-data-dir.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: browserChoice.path!,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 1000 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (e) => {
      throw e;
    });
  });
  afterEach(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('asks for the token without one, and loads nothing', async () => {
    await page.goto(`${t.service.url}/`);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    expect(await page.locator('[data-testid=plan-link]').count()).toBe(0);
  });

  it('describe, resolve a flagged value, approve, run, read the validation report', async () => {
    await page.goto(`${t.service.url}/#token=${TOKEN}`);
    // The token leaves the address bar at once.
    await expect.poll(() => page.url()).not.toContain(TOKEN);

    await page.fill('#describe-text', DEMO_DESCRIPTION);
    await page.click('#describe-form button');
    await page.locator('[data-testid=plan-summary]').waitFor();
    // The description as read: each span highlighted by what it became (issue 15).
    expect(await page.locator('[data-testid=reading] mark.reading-filter').allTextContents()).toEqual(['of group 11']);
    expect(await page.locator('[data-testid=reading] mark.reading-source_table').allTextContents()).toContain('dispatch_role');
    expect(await page.locator('[data-testid=reading] mark.reading-unread').count()).toBe(0);
    const banner = page.locator('[data-testid=review-banner]');
    await expect.poll(() => banner.textContent(), { timeout: 30_000 }).toContain('1 decision(s)');
    expect(await banner.textContent()).toContain('Night Floater');
    expect(await page.locator('[data-testid=approve]').isDisabled()).toBe(true);
    // The plan at a glance: columns, enum table with rule and confidence, FK decision, risk, program.
    expect(await page.locator('[data-testid=columns]').textContent()).toContain('role_type');
    const flagged = page.locator('tr.needs-review[data-source="Night Floater"]');
    expect(await flagged.textContent()).toContain('0.00');
    expect(await page.locator('tr[data-source="MT-Aligners"]').textContent()).toMatch(/manufacturing[\s\S]*\d\.\d\d/);
    expect(await page.locator('[data-testid=fk-decision]').textContent()).toContain('technician_id');
    // What stays behind is shown: the legacy columns no origin reads, each with why.
    expect(await page.locator('[data-testid=not-carried]').textContent()).toContain('group_id');
    expect(await page.locator('[data-testid=program]').textContent()).toContain('generated once nothing needs review');
    await page.screenshot({ path: join(SHOTS, '1-plan-needs-review.png'), fullPage: true });

    await flagged.locator('select[data-testid=resolve]').selectOption('remote');
    await page.click('[data-testid=save-decisions]');
    await expect.poll(() => page.locator('[data-testid=plan-summary]').textContent(), { timeout: 30_000 }).toContain('revision 2');
    expect(await banner.textContent()).toContain('Nothing needs review');
    expect(await page.locator('tr[data-source="Night Floater"]').textContent()).toContain('override');
    // Now the program exists: highlighted, type-checked.
    await expect.poll(() => page.locator('[data-testid=program] .kw').count(), { timeout: 60_000 }).toBeGreaterThan(5);
    expect(await page.locator('[data-testid=program]').textContent()).toContain('export function transform');

    await page.click('[data-testid=diff]');
    const diff = page.locator('[data-testid=diff-table]');
    await diff.waitFor();
    expect(await diff.textContent()).toContain('role_type: "Night Floater"');
    await page.screenshot({ path: join(SHOTS, '2-resolved-with-diff.png'), fullPage: true });

    await page.click('[data-testid=approve]');
    await page.locator('[data-testid=run]').waitFor();
    expect(await page.locator('[data-testid=plan-summary]').textContent()).toContain('approved');

    await page.click('[data-testid=run]');
    await page.locator('[data-testid=timeline]').waitFor();
    await expect.poll(() => page.locator('[data-testid=run-status]').textContent(), { timeout: 120_000 }).toContain('completed');
    expect(await page.locator('[data-testid=timeline]').textContent()).toMatch(/batch 1: 32 rows/);
    const report = page.locator('[data-testid=report]');
    await expect.poll(() => report.textContent(), { timeout: 30_000 }).toContain('passed');
    expect(await report.textContent()).toContain('migrated 32');
    // The seed target has Supabase's roles: what the app will see, per role.
    const visibility = await report.textContent();
    expect(visibility).toContain('App visibility');
    expect(visibility).toMatch(/service_role\s*32\/32\s*bypasses RLS/);
    expect(visibility).toContain('⚠ anon can read none of the 32 migrated rows');
    // And through the Data API (the PostgREST stand-in), beside the Postgres counts, with the compared sample.
    expect(visibility).toContain('Through the Data API');
    expect(visibility).toMatch(/anon\s*0\/32\s*0\/32\s*SUPABASE_ANON_KEY/);
    expect(visibility).toMatch(/service_role\s*32\/32\s*32\/32\s*SUPABASE_SERVICE_ROLE_KEY/);
    expect(visibility).toMatch(/sample: 32 of 32 row\(s\) fetched by key as service_role, compared with the database: all equal/);
    expect(await page.locator('[data-testid=rollback]').isVisible()).toBe(true);
    await page.screenshot({ path: join(SHOTS, '3-run-validated.png'), fullPage: true });

    // Replay from the page: the recorded bundle again, dry, and the verdict.
    await page.click('[data-testid=replay]');
    await expect.poll(() => page.locator('h3').first().textContent(), { timeout: 30_000 }).toContain('Replay of run');
    await expect.poll(() => page.locator('[data-testid=replay-verdict]').textContent().catch(() => ''), { timeout: 120_000 }).toContain('reproduced: 32 rows');
    expect(await page.locator('[data-testid=replay-factors]').textContent()).toContain('source rows');
    await page.screenshot({ path: join(SHOTS, '4-replay-reproduced.png'), fullPage: true });

    // The run list shows it; the database agrees with the page.
    expect(await page.locator('[data-testid=run-list]').textContent()).toContain('completed');
    const n = await t.seed.sql('target', 'SELECT count(*)::int AS n FROM technician_roles');
    expect(n.rows[0]).toEqual({ n: 32 });
  });
});
