import { ModelError } from './errors.js';
import type { ModelClient, ModelRequest, ModelResponse, ModelUsage } from './types.js';

/**
 * Tokens one plan may spend, shared by every request made for it (repair turns included).
 * A request is refused once the budget is spent, its max_tokens is cut to what is left, and
 * an answer that overshoots (its input was larger than expected) is not used.
 */
export class TokenBudget {
  private used: ModelUsage = { inputTokens: 0, outputTokens: 0 };
  private count = 0;

  constructor(readonly limitTokens: number) {
    if (!Number.isInteger(limitTokens) || limitTokens <= 0) throw new RangeError(`a token budget must be a positive integer, not ${limitTokens}`);
  }

  get usage(): ModelUsage & { requests: number } {
    return { ...this.used, requests: this.count };
  }

  get spentTokens(): number {
    return this.used.inputTokens + this.used.outputTokens;
  }

  get remainingTokens(): number {
    return Math.max(0, this.limitTokens - this.spentTokens);
  }

  charge(usage: ModelUsage): void {
    this.used = { inputTokens: this.used.inputTokens + usage.inputTokens, outputTokens: this.used.outputTokens + usage.outputTokens };
    this.count += 1;
  }

  exceeded(what: string): ModelError {
    return new ModelError('MODEL_BUDGET_EXCEEDED', 'user', `the token budget of ${this.limitTokens} for this plan is spent (${this.spentTokens} used) ${what}`, {
      hint: 'raise FERRY_MODEL_TOKEN_BUDGET, shorten the description, or plan with --llm off',
      details: { limitTokens: this.limitTokens, usage: this.usage },
    });
  }
}

/** A client that charges every answer to `budget` and refuses to go past it. */
export function withBudget(inner: ModelClient, budget: TokenBudget): ModelClient {
  return {
    model: inner.model,
    async createMessage(request: ModelRequest): Promise<ModelResponse> {
      if (budget.remainingTokens === 0) throw budget.exceeded('before this request');
      const response = await inner.createMessage({ ...request, maxTokens: Math.min(request.maxTokens, budget.remainingTokens) });
      budget.charge(response.usage);
      if (budget.spentTokens > budget.limitTokens) throw budget.exceeded('by this answer, which is therefore not used');
      return response;
    },
  };
}
