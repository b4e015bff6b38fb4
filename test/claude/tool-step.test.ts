import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AnthropicModelClient } from '../../src/core/llm/anthropic-client.js';
import { toolInputSchema, toolStep, usageOf, type CheckFailure } from '../../src/core/llm/tool-step.js';
import type { ModelMessage, ModelResponse } from '../../src/core/llm/types.js';
import { startFakeAnthropic, toolUse, type FakeAnthropic, type Reply } from './fake-anthropic.js';

/** A made-up step: the model names a kiln and a recipe, which must "compile". */
const Firing = z.object({ kiln: z.string().min(1), recipe: z.string() });
type Firing = z.infer<typeof Firing>;
const TOOL = 'fire_kiln';
const PROMPT = { id: 'pottery.v1', text: 'Fire the kiln.', sha256: 'f'.repeat(64) };

describe('the one tool-repair loop (toolStep), through the real SDK against a local Messages API', () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const step = async (replies: Reply[], check: (f: Firing, r: ModelResponse) => Promise<{ ok: true; glaze: string } | CheckFailure>) => {
    fake = await startFakeAnthropic(replies);
    const client = new AnthropicModelClient({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0 });
    const responses: ModelResponse[] = [];
    const messages: ModelMessage[] = [{ role: 'user', content: 'Fire it.' }];
    const tools = [{ name: TOOL, description: 'the firing', input_schema: toolInputSchema(Firing) }];
    const run = toolStep({ client, prompt: PROMPT, messages, tools, tool: TOOL, schema: Firing, check, responses, maxTokens: 512, hint: 'fire by hand' });
    return { run, responses };
  };

  it('awaits an asynchronous check, feeds its code problems back, and returns what it accepted', async () => {
    const { run, responses } = await step(
      [toolUse(TOOL, { kiln: 'north', recipe: 'glaze(' }, { inputTokens: 10, outputTokens: 3 }), toolUse(TOOL, { kiln: 'north', recipe: 'glaze()' }, { inputTokens: 20, outputTokens: 4 })],
      async (f) => {
        await new Promise((r) => setTimeout(r, 5));
        return f.recipe.endsWith(')') ? { ok: true, glaze: `${f.kiln}:${f.recipe}` } : { ok: false, code: 'MODEL_CODE_INVALID', offenders: ["TS1005 ')' expected"] };
      },
    );
    const result = await run;
    expect(result.value).toEqual({ kiln: 'north', recipe: 'glaze()' });
    expect(result.grounded.glaze).toBe('north:glaze()');
    const repair = fake!.requests[1]!.body.messages.at(-1)!.content as Array<{ type: string; is_error?: boolean; content: string }>;
    expect(repair[0]).toMatchObject({ type: 'tool_result', is_error: true });
    expect(repair[0]!.content).toMatch(/does not type-check[\s\S]*TS1005 '\)' expected[\s\S]*Call fire_kiln again/);
    expect(usageOf(responses)).toEqual({ inputTokens: 30, outputTokens: 7, requests: 2 });
    // The schema the model is given is zod's, without the $schema key the API does not take.
    expect(fake!.requests[0]!.body.tools?.[0]?.input_schema).toEqual({
      type: 'object',
      properties: { kiln: { type: 'string', minLength: 1 }, recipe: { type: 'string' } },
      required: ['kiln', 'recipe'],
      additionalProperties: false,
    });
  });

  it("throws the check's own code after the repair turns, naming the step, the problems and the answers", async () => {
    const bad = { kiln: 'south', recipe: 'glaze(' };
    const { run } = await step([toolUse(TOOL, bad), toolUse(TOOL, bad), toolUse(TOOL, bad)], async () => ({ ok: false, code: 'MODEL_CODE_INVALID', offenders: ["TS1005 ')' expected"] }));
    const err = await run.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_CODE_INVALID', category: 'third_party', hint: 'fire by hand', details: { step: TOOL, problems: ["TS1005 ')' expected"], answers: 3 } });
    expect((err as Error).message).toMatch(/fire_kiln answer is code that does not type-check, after 3 answers/);
    expect(fake!.requests).toHaveLength(3);
  });

  it('settles an answer whose only problems a person can decide, but only once the repair turns are spent', async () => {
    const bad = { kiln: 'east', recipe: 'celadon' };
    const { run } = await step([toolUse(TOOL, bad), toolUse(TOOL, bad), toolUse(TOOL, { kiln: 'east', recipe: 'tenmoku' })], async (f) => ({
      ok: false,
      code: 'MODEL_EXPRESSION_INVALID',
      offenders: [`recipe ${f.recipe} is not in the book`],
      settle: { ok: true, glaze: `review: ${f.recipe}` } as { ok: true },
    }));
    const result = await run;
    // Every answer before the last went back to the model; the last one is settled, not thrown.
    expect(fake!.requests).toHaveLength(3);
    expect(JSON.stringify(fake!.requests[1]!.body.messages.at(-1))).toContain('recipe celadon is not in the book');
    expect(result.value).toEqual({ kiln: 'east', recipe: 'tenmoku' });
    expect((result.grounded as unknown as { glaze: string }).glaze).toBe('review: tenmoku');
  });
});
