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

/**
 * The review page's --where box: the server checks the predicate with the CLI's parser and type
 * checker; a refusal is shown next to the box and saves nothing; an accepted one is a revision,
 * recounted; the condition can be taken back from the page, which is one more revision.
 */
describeWithBrowser(`the review page: narrowing the rows with a predicate${browserChoice.skip === null ? '' : ` (skipped: ${browserChoice.skip})`}`, () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    t = await startTestService();
    profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-where-'));
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

  it('refuses a predicate inline (not a condition, outside the language), narrows with one that checks, and takes it back', async () => {
    await page.goto(`${t.service.url}/#token=${TOKEN}`);
    await page.fill('#describe-text', DEMO_DESCRIPTION);
    await page.click('#describe-form button');
    const summary = page.locator('[data-testid=plan-summary]');
    await summary.waitFor();
    await expect.poll(() => summary.textContent(), { timeout: 30_000 }).toContain('revision 1');
    const rowsOf = async () => Number(/(\d+) source rows/.exec((await summary.textContent()) ?? '')?.[1]);
    const before = await rowsOf();
    const error = page.locator('[data-testid=where-error]');

    // A text, not a condition: refused by the type checker, shown next to the box; no revision.
    await page.fill('[data-testid=where-input]', 'name');
    await page.click('[data-testid=where-add]');
    await expect.poll(() => error.textContent(), { timeout: 30_000 }).toContain('FILTER_NOT_BOOLEAN');
    expect(await error.isVisible()).toBe(true);
    expect(await error.textContent()).toContain('not a condition');
    // A function outside the language: refused by the parser's subset, naming it.
    await page.fill('[data-testid=where-input]', "md5(name) = 'x'");
    await page.click('[data-testid=where-add]');
    await expect.poll(() => error.textContent(), { timeout: 30_000 }).toContain('EXPR_UNSUPPORTED');
    expect(await error.textContent()).toContain('md5');
    expect(await summary.textContent()).toContain('revision 1');
    expect((await t.store.listVersions((await t.store.listPlans())[0]!.planId)).map((v) => v.revision)).toEqual([1]);

    // One that checks, through the legacy FK: a new revision, recounted by the server.
    const predicate = "abbrev IS NOT NULL AND user_id.username <> 'nobody'";
    await page.fill('[data-testid=where-input]', predicate);
    await page.click('[data-testid=where-add]');
    await expect.poll(() => summary.textContent(), { timeout: 30_000 }).toContain('revision 2');
    const expected = Number(
      (
        await t.seed.sql(
          'legacy',
          `SELECT count(*) AS n FROM dispatch_role r LEFT JOIN dispatch_user u ON u.id = r.user_id WHERE r.group_id = 11 AND r.abbrev IS NOT NULL AND u.username <> 'nobody'`,
        )
      ).rows[0].n,
    );
    expect(expected).toBeLessThan(before);
    expect(await rowsOf()).toBe(expected);
    expect(await summary.textContent()).toContain(`(${predicate})`);
    const takeBack = page.locator('[data-testid=rows-filter] li', { hasText: predicate });
    expect(await takeBack.textContent()).toContain(`only rows where ${predicate}`);

    // Taken back from the page: one more revision, every row of the description again.
    await takeBack.locator('[data-testid=take-back]').click();
    await expect.poll(() => summary.textContent(), { timeout: 30_000 }).toContain('revision 3');
    expect(await rowsOf()).toBe(before);
    expect(await summary.textContent()).not.toContain(predicate);
    const versions = await t.store.listVersions((await t.store.listPlans())[0]!.planId);
    expect(versions.at(-1)!.plan.overrides.at(-2)!.what).toBe(`filter: no longer only rows where ${predicate} (--unwhere "${predicate}")`);
  });
});
