import { InputError } from '../errors.js';

/**
 * The model settings, read once at the edge (the CLI) and passed down.
 *
 * | variable                  | meaning                                          | default            |
 * |---------------------------|--------------------------------------------------|--------------------|
 * | ANTHROPIC_API_KEY         | turns the Claude-backed planner on               | — (deterministic)  |
 * | ANTHROPIC_BASE_URL        | the Messages API endpoint                        | the SDK's default  |
 * | FERRY_MODEL               | the model asked                                  | claude-sonnet-5-5  |
 * | FERRY_MODEL_TIMEOUT_MS    | per request, retries not included                | 120000             |
 * | FERRY_MODEL_MAX_RETRIES   | retries after 429 / 529 / 5xx / timeout          | 4                  |
 * | FERRY_MODEL_TOKEN_BUDGET  | input + output tokens one plan may spend         | 200000             |
 */
/** The current Sonnet: fast, and priced for a plan that may take a few repair turns. */
export const DEFAULT_MODEL = 'claude-sonnet-5-5';

export interface ModelConfig {
  apiKey: string | undefined;
  baseURL: string | undefined;
  model: string;
  timeoutMs: number;
  maxRetries: number;
  tokenBudget: number;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, allowZero = false): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new InputError('CONFIG_INVALID', `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, not "${raw}"`);
  return n;
}

export function loadModelConfig(env: NodeJS.ProcessEnv = process.env): ModelConfig {
  return {
    apiKey: env.ANTHROPIC_API_KEY || undefined,
    baseURL: env.ANTHROPIC_BASE_URL || undefined,
    model: env.FERRY_MODEL || DEFAULT_MODEL,
    timeoutMs: positiveInt(env, 'FERRY_MODEL_TIMEOUT_MS', 120_000),
    maxRetries: positiveInt(env, 'FERRY_MODEL_MAX_RETRIES', 4, true),
    tokenBudget: positiveInt(env, 'FERRY_MODEL_TOKEN_BUDGET', 200_000),
  };
}
