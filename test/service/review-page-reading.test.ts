import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLUMNS_TOOL, INTENT_TOOL } from '../../agents/planning/claude/index.js';
import { openConnections } from '../../src/chain.js';
import { describeToPlanWithClaude } from '../../src/chain-claude.js';
import { disagreementNumber } from '../../src/core/artifacts/migration-plan.js';
import { AnthropicModelClient } from '../../src/core/llm/anthropic-client.js';
import { TokenBudget } from '../../src/core/llm/budget.js';
import { fixture, startFakeAnthropic, toolUse } from '../claude/fake-anthropic.js';
import { chromiumForTests } from '../setup/chromium.js';
import { startTestService, TOKEN } from './service-fixture.js';

const SHOTS = resolve(__dirname, '../../test-artifacts/review-page');
const browserChoice = chromiumForTests();
const describeWithBrowser = browserChoice.skip === null ? describe : describe.skip;
const EXCEPT = 'Migrate the roles from dispatch_role into technician_roles except for group 12';

describeWithBrowser(`the review page shows where the model and the rules read the words differently${browserChoice.skip === null ? '' : ` (skipped: ${browserChoice.skip})`}`, () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('marks the disputed words with their --ack number and both readings, and lists the decision in the banner', async () => {
    const fake = await startFakeAnthropic([
      toolUse(INTENT_TOOL, {
        source: { table: 'dispatch_role' },
        target: { table: 'technician_roles' },
        spans: [
          { text: 'Migrate the roles', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
          { text: 'dispatch_role', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
          { text: 'technician_roles', reads_as: { kind: 'target_table', table: 'technician_roles' } },
          { text: 'except for group 12', reads_as: { kind: 'filter', predicate: 'group_id = 12' } },
        ],
        rationale: 'scripted',
      }),
      toolUse(COLUMNS_TOOL, fixture('roles-columns.json')),
    ]);
    const conn = await openConnections(t.seed.legacy.url, t.seed.target.url);
    let made;
    try {
      const client = new AnthropicModelClient({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0 });
      made = await describeToPlanWithClaude({ description: EXCEPT, conn, model: { client, budget: new TokenBudget(100_000) } });
    } finally {
      await conn.close();
      await fake.close();
    }
    const { plan } = await t.store.saveNewPlan(made.plan, made.analysis);
    const n = disagreementNumber(plan, 0);

    const profile = await mkdtemp(join(tmpdir(), 'ferry-chromium-'));
    let browser: BrowserContext | undefined;
    try {
      browser = await chromium.launchPersistentContext(profile, { executablePath: browserChoice.path!, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
      const page = browser.pages()[0] ?? (await browser.newPage());
      page.on('pageerror', (e) => {
        throw e;
      });
      await page.goto(`${t.service.url}/#token=${TOKEN}`);
      await expect.poll(() => page.url()).not.toContain(TOKEN);
      await page.goto(`${t.service.url}/#/plans/${encodeURIComponent(plan.id)}`);
      await page.locator('[data-testid=plan-summary]').waitFor();
      const disputed = page.locator('[data-testid=reading] mark.reading-disputed');
      expect(await disputed.allTextContents()).toEqual([`except for group 12#${n}`]);
      expect(await disputed.first().getAttribute('title')).toBe(`#${n} read differently: the model read "except for group 12" → filter group_id = 12; the rules read "except for group 12" → filter group_id <> 12`);
      expect(await page.locator('[data-testid=reading] mark.reading-source_table').allTextContents()).toEqual(['Migrate the roles', 'dispatch_role']);
      expect(await page.locator('[data-testid=review-banner]').textContent()).toContain(`"except for group 12" (#${n}) differently`);
      expect(await page.locator('[data-testid=approve]').isDisabled()).toBe(true);
      // Kept for people to look at (test-artifacts/ is not committed).
      await mkdir(SHOTS, { recursive: true });
      await page.locator('[data-testid=plan-summary]').screenshot({ path: join(SHOTS, 'reading-disputed.png') });
    } finally {
      await browser?.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});
