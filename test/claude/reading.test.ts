import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { COLUMNS_TOOL, INTENT_TOOL, MAX_REPAIRS } from '../../agents/planning/claude/index.js';
import { disagreementNumber, readingItems, reviewItems } from '../../src/core/artifacts/migration-plan.js';
import { openConnections, type Connections } from '../../src/chain.js';
import { describeToPlanWithClaude } from '../../src/chain-claude.js';
import { planCommand } from '../../src/cli/plan-command.js';
import { AnthropicModelClient } from '../../src/core/llm/anthropic-client.js';
import { TokenBudget } from '../../src/core/llm/budget.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { renderPlan } from '../../src/present/render.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { fixture, startFakeAnthropic, toolUse, type FakeAnthropic, type Reply } from './fake-anthropic.js';

/** Words the rules read; the model is scripted to read them its own way. */
const NAMED = 'Migrate the technician roles of group 11 from dispatch_role into technician_roles';
const EXCEPT = 'Migrate the roles from dispatch_role into technician_roles except for group 12';
const V2 = 'Move the roles of group 11 from dispatch_roles_v2 into technician_roles';

type Span = { text: string; reads_as: Record<string, unknown> };
const reading = (spans: Span[], source = 'dispatch_role') => ({ source: { table: source }, target: { table: 'technician_roles' }, spans, rationale: 'scripted' });
const named = (filter = 'group_id = 11'): Span[] => [
  { text: 'Migrate the', reads_as: { kind: 'filler' } },
  { text: 'technician roles', reads_as: { kind: 'target_table', table: 'technician_roles' } },
  { text: 'of group 11', reads_as: { kind: 'filter', predicate: filter } },
  { text: 'dispatch_role', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
  { text: 'technician_roles', reads_as: { kind: 'target_table', table: 'technician_roles' } },
];
const columns = () => toolUse(COLUMNS_TOOL, fixture('roles-columns.json'));
/** A Messages API answer with only text and the given stop reason (a refusal, a cut-off text). */
const textOnly = (text: string, stopReason: string): Reply => ({
  body: { id: 'msg_text', type: 'message', role: 'assistant', model: 'claude-sonnet-5-5', content: text ? [{ type: 'text', text }] : [], stop_reason: stopReason, stop_sequence: null, usage: { input_tokens: 900, output_tokens: 40 } },
});

describe("Claude reads the description into a DescriptionReading, compared span by span with the rules'", () => {
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

  const client = async (replies: Reply[]) => {
    await fake?.close();
    fake = await startFakeAnthropic(replies);
    return new AnthropicModelClient({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0, sleep: async () => {} });
  };
  const plan = async (description: string, replies: Reply[]) => describeToPlanWithClaude({ description, conn, model: { client: await client(replies), budget: new TokenBudget(100_000) } });

  it('agrees with the rules: the reading is the model’s, compared, and nothing of it needs review', async () => {
    const { plan: p } = await plan(NAMED, [toolUse(INTENT_TOOL, reading(named())), columns()]);
    const r = p.reading!;
    expect(r.artifact.reader).toBe('claude');
    expect(r.artifact.spans.map((s) => [s.text, s.binding.kind])).toEqual([
      ['Migrate the', 'filler'],
      ['technician roles', 'target_table'],
      ['of group 11', 'filter'],
      ['from', 'filler'],
      ['dispatch_role', 'source_table'],
      ['into', 'filler'],
      ['technician_roles', 'target_table'],
    ]);
    for (const s of r.artifact.spans) expect(NAMED.slice(s.start, s.end)).toBe(s.text);
    expect(r.comparison).toMatchObject({ rules: { artifact: { reader: 'rules' } }, disagreements: [] });
    expect(p.source.filters).toEqual([{ column: 'group_id', op: '=', value: 11 }]);
    expect(reviewItems(p)).toEqual([]);
    expect(renderPlan(p)).toMatch(/Read word by word \(claude[\s\S]*Compared with the rules' reading [0-9a-f]{12}…: they agree on every span/);
    expect(approvePlan(p, 'reviewer').status).toBe('approved');
  });

  it('reads a negation differently from the rules: a review item quoting the words and both readings, until acknowledged', async () => {
    const spans: Span[] = [
      { text: 'Migrate the roles', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
      { text: 'dispatch_role', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
      { text: 'technician_roles', reads_as: { kind: 'target_table', table: 'technician_roles' } },
      { text: 'except for group 12', reads_as: { kind: 'filter', predicate: 'group_id = 12' } },
    ];
    const { plan: p } = await plan(EXCEPT, [toolUse(INTENT_TOOL, reading(spans)), columns()]);
    const d = p.reading!.comparison!.disagreements;
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ text: 'except for group 12', model: '"except for group 12" → filter group_id = 12', rules: '"except for group 12" → filter group_id <> 12' });
    // The plan follows the model (group 12's 6 rows), and says so until a person decides.
    expect(p.source).toMatchObject({ filters: [{ column: 'group_id', op: '=', value: 12 }], rowCount: 6 });
    const n = disagreementNumber(p, 0);
    // (The group's roles the columns answer did not map are review items of their own.)
    const items = readingItems(p);
    expect(items).toHaveLength(1);
    expect(reviewItems(p)).toContain(items[0]);
    expect(items[0]).toContain(`"except for group 12" (#${n}) differently: the model read "except for group 12" → filter group_id = 12; the rules read "except for group 12" → filter group_id <> 12`);
    expect(items[0]).toContain(`ferry approve <plan> --ack ${n}`);
    expect(p.risk).toMatchObject({ level: 'high' });
    expect(renderPlan(p)).toContain(`#${n} ⚠ "except for group 12": the model read`);
    expect(() => approvePlan(p, 'reviewer')).toThrow(/decision\(s\) a person must make/);
    const acked = await applyOverrides(p, { ack: [n] }, 'reviewer', createPlanProbe(conn.source, conn.target));
    expect(readingItems(acked)).toEqual([]);
    expect(reviewItems(acked)).toHaveLength(reviewItems(p).length - 1);
    expect(acked.overrides.at(-1)?.what).toMatch(/keeps the model's reading/);
    expect(renderPlan(acked)).toContain(`#${n} ⚠ "except for group 12": the model read "except for group 12" → filter group_id = 12; the rules read "except for group 12" → filter group_id <> 12 (acknowledged)`);
  });

  it('words the rules read and the model left out are a disagreement too (never dropped as filler)', async () => {
    const spans: Span[] = [
      { text: 'Migrate the roles', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
      { text: 'dispatch_role', reads_as: { kind: 'source_table', table: 'dispatch_role' } },
      { text: 'technician_roles', reads_as: { kind: 'target_table', table: 'technician_roles' } },
    ];
    const { plan: p } = await plan(EXCEPT, [toolUse(INTENT_TOOL, reading(spans)), columns()]);
    const gap = p.reading!.artifact.spans.find((s) => s.text === 'except for group 12')!;
    expect(gap.binding).toEqual({ kind: 'unread', why: 'claude-sonnet-5-5 did not say what these words became' });
    expect(p.reading!.comparison!.disagreements).toEqual([expect.objectContaining({ text: 'except for group 12', rules: '"except for group 12" → filter group_id <> 12' })]);
    // Asked once, with both readings (not also as unread words).
    expect(readingItems(p)).toEqual([expect.stringContaining('"except for group 12"')]);
  });

  it('a table that does not exist goes back to the model naming the words and the closest tables; corrected, it is taken', async () => {
    const wrong: Span[] = [...named().slice(0, 3), { text: 'dispatch_roles_v2', reads_as: { kind: 'source_table', table: 'dispatch_roles_v2' } }];
    const right: Span[] = [...named().slice(0, 3), { text: 'dispatch_roles_v2', reads_as: { kind: 'source_table', table: 'dispatch_role' } }];
    const { plan: p } = await plan(V2.replace('Move', 'Migrate').replace('the roles', 'the technician roles'), [toolUse(INTENT_TOOL, reading(wrong)), toolUse(INTENT_TOOL, reading(right)), columns()]);
    const feedback = JSON.stringify(fake!.requests[1]!.body.messages.at(-1));
    expect(feedback).toContain('\\"dispatch_roles_v2\\" read as the source table \\"dispatch_roles_v2\\", which does not exist in');
    expect(feedback).toContain('closest: dispatch_role');
    expect(p.source.table).toBe('dispatch_role');
    // The rules refused those words; the model's binding of them is for a person to confirm.
    expect(p.reading!.comparison!.rules).toMatchObject({ refused: expect.stringContaining('no table "dispatch_roles_v2"') });
    expect(reviewItems(p).join('\n')).toMatch(/"dispatch_roles_v2" \(#\d+\) differently: the model read .*source table dispatch_role.*; the rules read nothing: the rules could not read the description/);
  });

  it(`refuses a reading still naming a nonexistent table after ${MAX_REPAIRS} repairs, naming the words`, async () => {
    const wrong = () => toolUse(INTENT_TOOL, reading([{ text: 'dispatch_roles_v2', reads_as: { kind: 'source_table', table: 'dispatch_roles_v2' } }], 'dispatch_roles_v2'));
    const err = await plan(V2, [wrong(), wrong(), wrong()]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_NOT_GROUNDED', details: { step: INTENT_TOOL, answers: 3 } });
    expect((err as Error).message).toContain('source table "dispatch_roles_v2" does not exist');
    expect((err as Error).message).toMatch(/"dispatch_roles_v2" read as the source table "dispatch_roles_v2", which does not exist in \S+ \(closest: dispatch_role/);
  });

  it('a filter that does not parse or names a missing column goes back naming the words', async () => {
    const bad: Span[] = [...named().slice(0, 2), { text: 'of group 11', reads_as: { kind: 'filter', predicate: 'grp = 11' } }, ...named().slice(3)];
    const { plan: p } = await plan(NAMED, [toolUse(INTENT_TOOL, reading(bad)), toolUse(INTENT_TOOL, reading(named())), columns()]);
    expect(p.source.filters).toEqual([{ column: 'group_id', op: '=', value: 11 }]);
    const feedback = JSON.stringify(fake!.requests[1]!.body.messages.at(-1));
    expect(feedback).toMatch(/\\"of group 11\\" read as the filter grp = 11: .*grp/);
  });

  it('a refusal is said as such, and no empty assistant turn is ever sent back', async () => {
    const err = await plan(NAMED, [textOnly('I can’t help with that.', 'refusal')]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_REFUSED', category: 'third_party', details: { step: INTENT_TOOL, text: 'I can’t help with that.' } });
    expect((err as Error).message).toMatch(/declined to answer the read_description step \(stop_reason "refusal"\): "I can’t help with that\."/);
    expect(fake!.requests).toHaveLength(1);
    const empty = await plan(NAMED, [textOnly('', 'refusal')]).catch((e: unknown) => e);
    expect(empty).toMatchObject({ code: 'MODEL_REFUSED' });
    const nothing = await plan(NAMED, [textOnly('', 'end_turn')]).catch((e: unknown) => e);
    expect(nothing).toMatchObject({ code: 'MODEL_OUTPUT_INVALID' });
    expect((nothing as Error).message).toMatch(/answer was empty/);
    expect(fake!.requests).toHaveLength(1);
  });

  it('max_tokens: the cut answer is dropped and the same request asked once with a larger limit', async () => {
    const { plan: p, transcript } = await plan(NAMED, [toolUse(INTENT_TOOL, fixture('roles-intent-truncated.json'), { stopReason: 'max_tokens' }), toolUse(INTENT_TOOL, reading(named())), columns()]);
    expect(p.source.table).toBe('dispatch_role');
    const [first, second] = fake!.requests;
    expect(second!.body.max_tokens).toBe(first!.body.max_tokens * 2);
    expect(second!.body.messages).toEqual(first!.body.messages);
    expect(transcript.exchanges).toHaveLength(3);
  });

  it('max_tokens twice fails clearly, and the command shows what the rules read instead', async () => {
    const cut = () => toolUse(INTENT_TOOL, fixture('roles-intent-truncated.json'), { stopReason: 'max_tokens' });
    fake = await startFakeAnthropic([cut(), cut()]);
    const lines: string[] = [];
    const model = { apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0, tokenBudget: 100_000 };
    const err = await planCommand({ description: NAMED, conn, llm: 'claude', replay: undefined, model, say: (l) => lines.push(l) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_MAX_TOKENS', details: { step: INTENT_TOOL, maxTokens: [8192, 16384] } });
    expect((err as Error).message).toMatch(/cut off at max_tokens twice \(8192 tokens, then 16384\)/);
    expect(fake.requests).toHaveLength(2);
    const out = lines.join('\n');
    expect(out).toContain("⚠ The model failed (MODEL_MAX_TOKENS); what the rules read instead, without a model (not saved):");
    expect(out).toMatch(/Read word by word \(rules, reading [0-9a-f]{12}…\):\n[\s\S]*"of group 11" → filter group_id = 11/);
    expect(out).toMatch(/public\.dispatch_role \[group_id = 11\] → public\.technician_roles/);
    expect(out).toContain(`To keep the rules' plan: ferry plan --llm off '${NAMED}'`);
  });
});
