import { readFile } from 'node:fs/promises';
import type { MigrationPlan } from '../artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../artifacts/schema-analysis.js';
import { describeToPlan, type Connections, type Say } from '../chain.js';
import { describeToPlanWithClaude } from '../chain-claude.js';
import { InputError } from '../errors.js';
import { AnthropicModelClient } from '../llm/anthropic-client.js';
import { TokenBudget } from '../llm/budget.js';
import type { ModelConfig } from '../llm/config.js';
import { ModelError } from '../llm/errors.js';
import { loadTranscript, type ModelTranscript } from '../llm/transcript.js';

/** The model exchange kept beside a plan: `<plan>.model.json`. */
export function transcriptPath(planPath: string): string {
  return `${planPath.replace(/\.json$/, '')}.model.json`;
}

export type LlmMode = 'claude' | 'off';

/** --llm, else claude when a key is configured, else the deterministic planner. */
export function llmMode(flag: string | undefined, config: ModelConfig): LlmMode {
  if (flag === undefined) return config.apiKey ? 'claude' : 'off';
  if (flag === 'claude' || flag === 'off') return flag;
  throw new InputError('FLAG_INVALID', `--llm takes "claude" or "off", not "${flag}"`, { hint: 'ferry plan --llm off "<description>" plans without a model' });
}

/** With --replay and no description: the one the recorded plan beside the transcript was made from. */
export async function descriptionForReplay(transcript: string): Promise<string> {
  const planFile = transcript.replace(/\.model\.json$/, '.json');
  try {
    const plan = JSON.parse(await readFile(planFile, 'utf8')) as { description?: unknown };
    if (typeof plan.description === 'string') return plan.description;
  } catch {
    // fall through to the error below
  }
  throw new InputError('ARG_MISSING', `no description given, and none could be read from ${planFile}`, { hint: 'ferry plan --replay <plan>.model.json "<the description it was recorded with>"' });
}

export interface PlanCommandResult {
  analysis: SchemaAnalysis;
  plan: MigrationPlan;
  /** Null when no model took part. */
  transcript: ModelTranscript | null;
}

export async function planCommand(input: { description: string; conn: Connections; llm: string | undefined; replay: string | undefined; model: ModelConfig; say: Say }): Promise<PlanCommandResult> {
  const { description, conn, say } = input;
  if (input.replay !== undefined) {
    const replay = await loadTranscript(input.replay);
    return describeToPlanWithClaude({ description, conn, model: { replay }, say });
  }
  if (llmMode(input.llm, input.model) === 'off') return { ...(await describeToPlan({ description, conn, say })), transcript: null };
  const { apiKey } = input.model;
  if (!apiKey) {
    throw new ModelError('MODEL_NOT_CONFIGURED', 'user', '--llm claude needs ANTHROPIC_API_KEY', { hint: 'export ANTHROPIC_API_KEY=…, or plan with --llm off' });
  }
  const client = new AnthropicModelClient({ apiKey, baseURL: input.model.baseURL, model: input.model.model, timeoutMs: input.model.timeoutMs, maxRetries: input.model.maxRetries });
  return describeToPlanWithClaude({ description, conn, model: { client, budget: new TokenBudget(input.model.tokenBudget) }, say });
}

/** One line for the terminal: who planned, with what, at what cost. */
export function modelSummary(plan: MigrationPlan): string | null {
  const g = plan.generator;
  if (g.kind !== 'claude' || !g.usage) return null;
  const cost = g.costUsd === null || g.costUsd === undefined ? 'cost unknown for this model' : `≈ $${g.costUsd.toFixed(4)}`;
  return `🤖 ${g.model ?? 'model'}: ${g.usage.requests} request(s), ${g.usage.inputTokens} input + ${g.usage.outputTokens} output tokens, ${cost}; prompt sha256 ${(g.promptHash ?? '').slice(0, 12)}…`;
}
