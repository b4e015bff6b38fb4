import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicModelClient, retryAfterMs } from '../../src/core/llm/anthropic-client.js';
import { TokenBudget, withBudget } from '../../src/core/llm/budget.js';
import { emptyTranscript, recording, replaying } from '../../src/core/llm/transcript.js';
import type { ModelRequest } from '../../src/core/llm/types.js';
import { estimateCostUsd } from '../../src/core/llm/pricing.js';
import { loadModelConfig } from '../../src/core/llm/config.js';
import { apiError, startFakeAnthropic, toolUse, type FakeAnthropic } from './fake-anthropic.js';

const REQUEST: ModelRequest = {
  system: 'test',
  messages: [{ role: 'user', content: 'hello' }],
  tools: [{ name: 'echo', description: 'echo', input_schema: { type: 'object', properties: { said: { type: 'string' } } } }],
  toolChoice: { type: 'tool', name: 'echo' },
  maxTokens: 1000,
};

describe('the Anthropic model client, through the real SDK against a local Messages API', () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const client = (f: FakeAnthropic, over: Partial<ConstructorParameters<typeof AnthropicModelClient>[0]> = {}) => {
    const slept: number[] = [];
    const c = new AnthropicModelClient({
      apiKey: 'sk-test',
      baseURL: f.baseURL,
      model: 'claude-sonnet-5-5',
      timeoutMs: 5_000,
      maxRetries: 3,
      sleep: async (ms) => {
        slept.push(ms);
      },
      random: () => 0,
      ...over,
    });
    return { c, slept };
  };

  it('sends the tool, the forced choice and the key, and returns tool_use, usage and stop reason', async () => {
    fake = await startFakeAnthropic([toolUse('echo', { said: 'hi' }, { inputTokens: 11, outputTokens: 7 })]);
    const { c } = client(fake);
    const r = await c.createMessage(REQUEST);
    expect(r.content).toEqual([{ type: 'tool_use', id: expect.any(String), name: 'echo', input: { said: 'hi' } }]);
    expect(r.usage).toEqual({ inputTokens: 11, outputTokens: 7 });
    expect(r.stopReason).toBe('tool_use');
    const sent = fake.requests[0]!;
    expect(sent.headers['x-api-key'] ?? sent.headers.authorization).toMatch(/sk-test/);
    expect(sent.body).toMatchObject({ model: 'claude-sonnet-5-5', max_tokens: 1000, system: 'test', tool_choice: { type: 'tool', name: 'echo' } });
    expect(sent.body.tools?.[0]?.name).toBe('echo');
  });

  it('backs off on 529 and 429, honouring retry-after, then succeeds', async () => {
    fake = await startFakeAnthropic([
      apiError(529, 'overloaded_error', 'Overloaded', { 'retry-after': '2' }),
      apiError(429, 'rate_limit_error', 'slow down', { 'retry-after-ms': '750' }),
      apiError(529, 'overloaded_error', 'Overloaded'),
      toolUse('echo', { said: 'finally' }),
    ]);
    const { c, slept } = client(fake);
    const r = await c.createMessage(REQUEST);
    expect(r.content[0]).toMatchObject({ input: { said: 'finally' } });
    // retry-after seconds, then retry-after-ms, then exponential backoff (500 · 2², jitter 0).
    expect(slept).toEqual([2000, 750, 2000]);
    expect(fake.requests).toHaveLength(4);
  });

  it('names the cause when retries run out', async () => {
    fake = await startFakeAnthropic([0, 1, 2].map(() => apiError(529, 'overloaded_error', 'Overloaded')));
    const { c } = client(fake, { maxRetries: 2 });
    const err = await c.createMessage(REQUEST).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_OVERLOADED', category: 'third_party' });
    expect((err as Error).message).toMatch(/overloaded \(529\): overloaded_error: Overloaded \(after 3 attempts/);

    await fake.close();
    fake = await startFakeAnthropic([0, 1].map(() => apiError(429, 'rate_limit_error', 'Number of request tokens has exceeded your rate limit')));
    const err429 = await client(fake, { maxRetries: 1 }).c.createMessage(REQUEST).catch((e: unknown) => e);
    expect(err429).toMatchObject({ code: 'MODEL_RATE_LIMITED' });
    expect((err429 as Error).message).toContain('rate limit');
  });

  it('does not retry a request the API refuses as sent, and says why', async () => {
    fake = await startFakeAnthropic([apiError(401, 'authentication_error', 'invalid x-api-key'), apiError(400, 'invalid_request_error', 'max_tokens: too large')]);
    const { c, slept } = client(fake);
    await expect(c.createMessage(REQUEST)).rejects.toMatchObject({ code: 'MODEL_AUTH_FAILED', category: 'user' });
    await expect(c.createMessage(REQUEST)).rejects.toThrow(/400: invalid_request_error: max_tokens: too large/);
    expect(slept).toEqual([]);
  });

  it('times a request out, retries it, and names the timeout', async () => {
    fake = await startFakeAnthropic([{ ...toolUse('echo', {}), delayMs: 30_000 }, { ...toolUse('echo', {}), delayMs: 30_000 }]);
    const { c } = client(fake, { timeoutMs: 200, maxRetries: 1 });
    const err = await c.createMessage(REQUEST).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MODEL_TIMEOUT' });
    expect((err as Error).message).toMatch(/did not answer within 200 ms \(after 2 attempts/);
  });

  it('names an unreachable API', async () => {
    fake = await startFakeAnthropic([]);
    const url = fake.baseURL;
    await fake.close();
    fake = undefined;
    const c = new AnthropicModelClient({ apiKey: 'k', baseURL: url, model: 'm', timeoutMs: 2000, maxRetries: 0 });
    await expect(c.createMessage(REQUEST)).rejects.toMatchObject({ code: 'MODEL_UNREACHABLE' });
  });

  it('holds a plan to its token budget: caps max_tokens, refuses an overshooting answer and any further request', async () => {
    fake = await startFakeAnthropic([toolUse('echo', {}, { inputTokens: 600, outputTokens: 100 }), toolUse('echo', {}, { inputTokens: 600, outputTokens: 100 })]);
    const budget = new TokenBudget(1000);
    const c = withBudget(client(fake).c, budget);
    await c.createMessage(REQUEST);
    expect(budget.remainingTokens).toBe(300);
    const err = await c.createMessage(REQUEST).catch((e: unknown) => e);
    expect(fake.requests[1]!.body.max_tokens).toBe(300);
    expect(err).toMatchObject({ code: 'MODEL_BUDGET_EXCEEDED' });
    expect((err as Error).message).toMatch(/budget of 1000 .*1400 used/);
    await expect(c.createMessage(REQUEST)).rejects.toMatchObject({ code: 'MODEL_BUDGET_EXCEEDED' });
    expect(fake.requests).toHaveLength(2);
  });

  it('records every exchange, and a replay answers from it without the network, refusing anything else', async () => {
    fake = await startFakeAnthropic([toolUse('echo', { said: 'recorded' })]);
    const transcript = emptyTranscript('claude-sonnet-5-5');
    const live = await recording(client(fake).c, transcript).createMessage(REQUEST);
    await fake.close();
    fake = undefined;
    const replay = replaying(JSON.parse(JSON.stringify(transcript)));
    expect(await replay.createMessage(structuredClone(REQUEST))).toEqual(live);
    await expect(replay.createMessage(REQUEST)).rejects.toMatchObject({ code: 'MODEL_REPLAY_MISS' });
    await expect(replaying(transcript).createMessage({ ...REQUEST, system: 'changed' })).rejects.toThrow(/differs from the recorded one/);
  });

  it('reads retry-after in its three forms, prices known models only, and reads its config once', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4000)).toBe(6000);
    expect(retryAfterMs(new Headers({}))).toBeNull();
    expect(estimateCostUsd('claude-sonnet-5-5', { inputTokens: 1_000_000, outputTokens: 100_000 })).toBe(3);
    expect(estimateCostUsd('claude-opus-4-1-20250805', { inputTokens: 1_000_000, outputTokens: 0 })).toBe(15);
    expect(estimateCostUsd('some-other-model', { inputTokens: 1, outputTokens: 1 })).toBeNull();
    expect(loadModelConfig({})).toMatchObject({ apiKey: undefined, model: 'claude-sonnet-5-5', tokenBudget: 200_000 });
    expect(() => loadModelConfig({ FERRY_MODEL_TOKEN_BUDGET: 'lots' })).toThrow(/FERRY_MODEL_TOKEN_BUDGET/);
  });
});
