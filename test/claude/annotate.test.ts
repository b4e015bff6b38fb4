import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COLUMNS_TOOL, INTENT_TOOL } from '../../agents/planning/claude/index.js';
import { ANNOTATE_TOOL } from '../../agents/schema-analysis/claude/annotate.js';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import { openConnections, type Connections } from '../../src/chain.js';
import { describeToPlanWithClaude } from '../../src/chain-claude.js';
import { AnthropicModelClient } from '../../src/core/llm/anthropic-client.js';
import { TokenBudget } from '../../src/core/llm/budget.js';
import { loadPrompt } from '../../src/core/llm/prompts.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { fixture, startFakeAnthropic, toolUse, type FakeAnthropic } from './fake-anthropic.js';

const FREE_FORM = "move group 11's roles over, technicians only, keep the old ids, everything active";

describe('Schema Analysis with Claude: advice on top of catalog facts, never new facts', () => {
  let seed: SeedCase;
  let conn: Connections;
  let fake: FakeAnthropic | undefined;
  beforeAll(async () => {
    seed = await createSeedCase();
    conn = await openConnections(seed.legacy.url, seed.target.url);
  });
  afterAll(async () => {
    await conn?.close();
    await seed?.drop();
  });
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('names invented tables and columns back to the model, keeps the rules’ classification where it disagrees, marks notes as the model’s, and replays', async () => {
    fake = await startFakeAnthropic([
      toolUse(ANNOTATE_TOOL, fixture('seed-annotations-hallucinated.json')),
      toolUse(ANNOTATE_TOOL, fixture('seed-annotations.json')),
      toolUse(INTENT_TOOL, fixture('roles-intent.json')),
      toolUse(COLUMNS_TOOL, fixture('roles-columns.json')),
    ]);
    const client = new AnthropicModelClient({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0 });
    const live = await describeToPlanWithClaude({ description: FREE_FORM, conn, model: { client, budget: new TokenBudget(100_000) }, annotate: true });
    const repair = JSON.stringify(fake.requests[1]!.body.messages.at(-1));
    expect(repair).toContain('has no column \\"seniority\\"');
    expect(repair).toContain('target table \\"public.technicians\\" does not exist');

    const rules = await analyzeSchemas({ source: conn.source, target: conn.target });
    const { analysis } = live;
    for (const side of ['source', 'target'] as const) {
      expect(analysis[side].tables.map((t) => [t.name, t.columns.map((c) => c.name)])).toEqual(rules[side].tables.map((t) => [t.name, t.columns.map((c) => c.name)]));
      for (const t of analysis[side].tables) {
        const kind = rules[side].tables.find((r) => r.name === t.name)!.classification.kind;
        if (kind !== 'unknown') expect({ table: t.name, kind: t.classification.kind }).toEqual({ table: t.name, kind });
      }
    }
    const group = analysis.source.tables.find((t) => t.name === 'dispatch_group')!;
    expect(group.classification.kind).toBe('catalog');
    expect(group.classification.reasons.at(-1)).toMatch(/Claude \(claude-sonnet-5-5\) says transactional .*the rules' catalog stands/);
    const status = analysis.source.tables.find((t) => t.name === 'dispatch_job')!.columns.find((c) => c.name === 'status')!;
    expect(status.note).toBe('Claude (claude-sonnet-5-5): the job\'s stage: open, in_progress, shipped, closed');
    expect(analysis.generator).toBe('claude');
    expect(analysis.annotatedBy).toMatchObject({ model: 'claude-sonnet-5-5', promptHash: (await loadPrompt('schema-analysis.v1')).sha256, usage: { requests: 2 } });
    expect(live.plan.generator.usage?.requests).toBe(4);
    // The planner sees the notes, still inside the data block.
    expect(JSON.stringify(fake.requests[2]!.body.messages[0])).toContain('the job\'s stage');

    await fake.close();
    fake = undefined;
    const replayed = await describeToPlanWithClaude({ description: FREE_FORM, conn, model: { replay: JSON.parse(JSON.stringify(live.transcript)) } });
    // (The readings' dates are when each was read: the replay reads again.)
    const same = (p: object) => JSON.parse(JSON.stringify({ ...p, createdAt: '' }).replace(/"readAt":"[^"]*"/g, '"readAt":""').replace(/"hash":"[0-9a-f]{64}"/g, '"hash":""')) as unknown;
    expect(same(replayed.plan)).toEqual(same(live.plan));
  });
});
