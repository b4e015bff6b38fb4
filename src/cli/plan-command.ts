import { readFile } from 'node:fs/promises';
import { needsTransforms } from '../../agents/code-interpreter/claude/write-transforms.js';
import { GeneratedScript } from '../core/artifacts/generated-script.js';
import { contentHash } from '../core/artifacts/hash.js';
import { shellWord, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { describeToPlan, type Connections, type Say } from '../chain.js';
import { describeToPlanWithClaude, writeProgramTransforms } from '../chain-claude.js';
import { FerryError, InputError, PlanError } from '../core/errors.js';
import { renderPlan } from '../present/render.js';
import { AnthropicModelClient } from '../core/llm/anthropic-client.js';
import { TokenBudget } from '../core/llm/budget.js';
import type { ModelConfig } from '../core/llm/config.js';
import { ModelError } from '../core/llm/errors.js';
import { loadTranscript, ModelTranscript } from '../core/llm/transcript.js';
import { saveJson } from '../store/file-store.js';
import { PlanTransforms, transformsPath } from './plan-transforms.js';

export { approvedTransforms, transformHashes, transformsPath } from './plan-transforms.js';

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

export async function planCommand(input: {
  description: string;
  conn: Connections;
  llm: string | undefined;
  replay: string | undefined;
  model: ModelConfig;
  /** --annotate: the model classifies tables and explains columns before planning. */
  annotate?: boolean;
  say: Say;
}): Promise<PlanCommandResult> {
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
  try {
    return await describeToPlanWithClaude({ description, conn, model: { client, budget: new TokenBudget(input.model.tokenBudget) }, annotate: input.annotate === true, say });
  } catch (e) {
    if (e instanceof ModelError) await sayRulesInstead(e, description, conn, say);
    throw e;
  }
}

/**
 * When the model fails, what the rules read instead: their reading and plan, marked as such
 * and not saved (the person asked for the model), with the command that keeps it. Then the
 * model's error still ends the command.
 */
async function sayRulesInstead(failure: ModelError, description: string, conn: Connections, say: Say): Promise<void> {
  say('');
  say(`⚠ The model failed (${failure.code}); what the rules read instead, without a model (not saved):`);
  try {
    const { plan } = await describeToPlan({ description, conn });
    say(renderPlan(plan));
    say('');
    say(`To keep the rules' plan: ferry plan --llm off ${shellWord(description)}`);
  } catch (e) {
    if (!(e instanceof FerryError)) throw e;
    say(`  the rules give no plan for it either: ${e.code}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
  }
}

/** One line for the terminal: who planned, with what, at what cost. */
export function modelSummary(plan: MigrationPlan): string | null {
  const g = plan.generator;
  if (g.kind !== 'claude' || !g.usage) return null;
  const cost = g.costUsd === null || g.costUsd === undefined ? 'cost unknown for this model' : `≈ $${g.costUsd.toFixed(4)}`;
  return `🤖 ${g.model ?? 'model'}: ${g.usage.requests} request(s), ${g.usage.inputTokens} input + ${g.usage.outputTokens} output tokens, ${cost}; prompt sha256 ${(g.promptHash ?? '').slice(0, 12)}…`;
}

/**
 * For `ferry approve`: the function bodies a plan's transform columns need. Written once per
 * plan revision by the model and kept beside the plan (`<plan>.transforms.json`) for a person
 * to read; the approval pins their sha256 and `ferry run` takes only those (approvedTransforms).
 * Undefined when the plan has none.
 */
export async function transformsFor(input: {
  planPath: string;
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  llm: string | undefined;
  model: ModelConfig;
  say: Say;
}): Promise<{ bodies: Record<string, string>; generator: GeneratedScript['generator'] } | undefined> {
  if (!needsTransforms(input.plan)) return undefined;
  const path = transformsPath(input.planPath);
  const planHash = contentHash(input.plan);
  const kept = await keptTransforms(path);
  if (kept?.planHash === planHash) {
    input.say(`   model-written functions from ${path}`);
    return { bodies: kept.bodies, generator: kept.generator };
  }
  // None kept yet, or kept for another revision: written below.
  const { apiKey } = input.model;
  if (llmMode(input.llm, input.model) === 'off' || !apiKey) {
    throw new ModelError('MODEL_NOT_CONFIGURED', 'user', `the plan's transform column(s) ${input.plan.columns.filter((c) => c.origin.kind === 'transform').map((c) => c.target).join(', ')} need a model to write their function`, {
      hint: 'export ANTHROPIC_API_KEY=… and run again, or give those columns another origin in review (ferry approve --column …)',
    });
  }
  const client = new AnthropicModelClient({ apiKey, baseURL: input.model.baseURL, model: input.model.model, timeoutMs: input.model.timeoutMs, maxRetries: input.model.maxRetries });
  const written = await writeProgramTransforms({ plan: input.plan, analysis: input.analysis, model: { client, budget: new TokenBudget(input.model.tokenBudget) }, say: input.say });
  await saveJson(path, { kind: 'plan_transforms', planHash, bodies: written.bodies, generator: written.generator, transcript: written.transcript });
  return { bodies: written.bodies, generator: written.generator };
}

/**
 * The functions file kept beside a plan; undefined only when there is none. A file that exists
 * but cannot be read or is not one ferry wrote is an error, never a reason to pay for new code
 * (a person may have meant to keep exactly those functions).
 */
async function keptTransforms(path: string): Promise<PlanTransforms | undefined> {
  const unreadable = (why: string, cause?: unknown) =>
    new PlanError('TRANSFORMS_UNREADABLE', `${path} ${why}; ferry approve does not have functions written anew over a file it cannot read`, {
      hint: `restore ${path}, or move it away to have the functions written again by the model (a paid call), then approve again`,
      ...(cause === undefined ? {} : { cause }),
    });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(`cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw unreadable(`is not JSON (${(e as Error).message})`, e);
  }
  const parsed = PlanTransforms.safeParse(json);
  if (!parsed.success) throw unreadable(`is not a functions file ferry wrote (${parsed.error.issues.map((i) => `${i.path.join('.') || '(the file)'}: ${i.message}`).join('; ')})`);
  return parsed.data;
}

