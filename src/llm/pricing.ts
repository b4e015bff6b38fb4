import type { ModelUsage } from './types.js';

/**
 * USD per million tokens (input, output), from Anthropic's published list prices. An estimate
 * for the record, not a bill: cache pricing and discounts are not modelled. A model missing
 * here gets no estimate (null) rather than a wrong one.
 */
const PRICES: ReadonlyArray<{ prefix: string; input: number; output: number }> = [
  { prefix: 'claude-opus-4', input: 15, output: 75 },
  { prefix: 'claude-sonnet-4', input: 3, output: 15 },
  { prefix: 'claude-3-7-sonnet', input: 3, output: 15 },
  { prefix: 'claude-3-5-sonnet', input: 3, output: 15 },
  { prefix: 'claude-haiku-4', input: 1, output: 5 },
  { prefix: 'claude-3-5-haiku', input: 0.8, output: 4 },
];

export function estimateCostUsd(model: string, usage: ModelUsage): number | null {
  const p = PRICES.find((x) => model.startsWith(x.prefix));
  if (!p) return null;
  const usd = (usage.inputTokens * p.input + usage.outputTokens * p.output) / 1_000_000;
  return Math.round(usd * 1_000_000) / 1_000_000;
}
