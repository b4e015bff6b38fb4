import type { ModelUsage } from './types.js';

/**
 * USD per million tokens (input, output), from Anthropic's published list prices. An estimate
 * for the record, not a bill: cache pricing and discounts are not modelled. A model missing
 * here gets no estimate (null) rather than a wrong one.
 */
const PRICES: ReadonlyArray<{ prefix: string; input: number; output: number }> = [
  // First match wins: specific versions before the families they extend.
  { prefix: 'claude-fable-5', input: 10, output: 50 },
  { prefix: 'claude-opus-5-5', input: 4, output: 20 },
  { prefix: 'claude-opus-5', input: 5, output: 25 },
  { prefix: 'claude-sonnet-5', input: 2, output: 10 },
  { prefix: 'claude-opus-4-5', input: 5, output: 25 },
  { prefix: 'claude-opus-4-6', input: 5, output: 25 },
  { prefix: 'claude-opus-4-7', input: 5, output: 25 },
  { prefix: 'claude-opus-4-1', input: 15, output: 75 },
  { prefix: 'claude-opus-4-2', input: 15, output: 75 }, // claude-opus-4-20250514
  { prefix: 'claude-sonnet-4', input: 3, output: 15 },
  { prefix: 'claude-3-7-sonnet', input: 3, output: 15 },
  { prefix: 'claude-haiku-4', input: 1, output: 5 },
];

export function estimateCostUsd(model: string, usage: ModelUsage): number | null {
  const p = PRICES.find((x) => model.startsWith(x.prefix));
  if (!p) return null;
  const usd = (usage.inputTokens * p.input + usage.outputTokens * p.output) / 1_000_000;
  return Math.round(usd * 1_000_000) / 1_000_000;
}
