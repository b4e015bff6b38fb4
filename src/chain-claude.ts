import { analyzeSchemas, focusSource } from '../agents/schema-analysis/index.js';
import { buildPlan } from '../agents/planning/index.js';
import { CLAUDE_PLANNER_VERSION, mergeProposal, PLANNING_PROMPT, proposePlan } from '../agents/planning/claude/index.js';
import { CODE_INTERPRETER_PROMPT, writeTransforms } from '../agents/code-interpreter/claude/write-transforms.js';
import { ANNOTATE_TOOL, annotateAnalysis, SCHEMA_ANALYSIS_PROMPT } from '../agents/schema-analysis/claude/annotate.js';
import type { GeneratedScript } from './core/artifacts/generated-script.js';
import { MigrationPlan, reviewItems } from './core/artifacts/migration-plan.js';
import { readingHash, type DescriptionReading } from './core/artifacts/description-reading.js';
import { compareReadings } from './core/artifacts/reading-comparison.js';
import { FerryError } from './core/errors.js';
import { attachReading, readForPlanning } from './plan-reading.js';
import type { SchemaAnalysis } from './core/artifacts/schema-analysis.js';
import type { Connections, Say } from './chain.js';
import { createPlanProbe } from './db/plan-probe.js';
import { TokenBudget, withBudget } from './core/llm/budget.js';
import { estimateCostUsd } from './core/llm/pricing.js';
import { loadPrompt, type PromptTemplate } from './core/llm/prompts.js';
import { emptyTranscript, recording, replaying, type ModelTranscript } from './core/llm/transcript.js';
import type { ModelClient } from './core/llm/types.js';


/** Where a model's answers come from: a live client (recorded, within its budget) or a recorded transcript. */
export type ModelSource = { client: ModelClient; budget: TokenBudget } | { replay: ModelTranscript };

function modelSession(source: ModelSource): { transcript: ModelTranscript; client: ModelClient } {
  if ('replay' in source) return { transcript: source.replay, client: replaying(source.replay) };
  const transcript = emptyTranscript(source.client.model);
  return { transcript, client: recording(withBudget(source.client, source.budget), transcript) };
}

export interface ClaudePlanInput {
  description: string;
  conn: Connections;
  /**
   * Live: a client (Anthropic, or any ModelClient) and the plan's token budget; every exchange
   * is recorded. Replay: a recorded transcript, answered without the network.
   */
  model: ModelSource;
  prompt?: PromptTemplate;
  /**
   * Let the model classify tables and explain columns first (advice only; see
   * agents/schema-analysis/claude). A replay does it when its transcript did.
   */
  annotate?: boolean;
  say?: Say;
  now?: () => Date;
}

export interface ClaudePlanResult {
  analysis: SchemaAnalysis;
  plan: MigrationPlan;
  /** What was asked and answered; store it beside the plan (`<plan>.model.json`). */
  transcript: ModelTranscript;
}

/**
 * The chain with Claude planning: Schema Analysis (deterministic) → the model proposes
 * source, filter, target and origins from free-form words (grounded against the analysis) →
 * the deterministic planner builds the plan from that intent → the proposal is laid over it
 * (disagreements go to review). The plan records model, prompt hash, tokens and cost.
 */
export async function describeToPlanWithClaude(input: ClaudePlanInput): Promise<ClaudePlanResult> {
  const say = input.say ?? (() => {});
  const { source, target } = input.conn;
  const prompt = input.prompt ?? (await loadPrompt(PLANNING_PROMPT));
  const { transcript, client } = modelSession(input.model);

  say('🔍 Schema Analysis: reading both catalogs…');
  let full = await analyzeSchemas({ source, target, ...(input.now ? { now: input.now } : {}) });
  const annotate = 'replay' in input.model ? firstTool(input.model.replay) === ANNOTATE_TOOL : input.annotate === true;
  if (annotate) {
    say(`🤖 Schema Analysis: ${client.model} classifies tables and explains columns (advice; the catalog facts stay)…`);
    full = await annotateAnalysis({ analysis: full, client, prompt: await loadPrompt(SCHEMA_ANALYSIS_PROMPT) });
  }
  const now = input.now?.() ?? new Date();
  const rules = await rulesReading(input.description, full, source, now);
  say(`🤖 Planning with ${client.model}${'replay' in input.model ? ' (replayed from the transcript, no network)' : ''}: reading the description…`);
  const { proposal, analysis, intent, grounding } = await proposePlan({
    description: input.description,
    analysis: full,
    client,
    prompt,
    now,
    focus: (chosen) => focusSource(full, source, { schema: chosen.source.schema, table: chosen.source.name, filters: chosen.filters }),
  });
  say(`   ${proposal.rationale}`);
  say(`   ${intent.source.name}: ${analysis.focus?.rowCount ?? 0} rows under the filter → ${intent.target.name}`);
  say('🧭 Planning: the rules check the proposal (enum values, references, types)…');
  const probe = createPlanProbe(source, target);
  const base = await buildPlan({
    description: input.description,
    intent: { source: intent.source, target: intent.target, filters: intent.filters, evidence: [`read by ${client.model}: ${proposal.rationale}`] },
    analysis,
    probe,
    onProgress: (l) => say(`   ${l}`),
    ...(input.now ? { now: input.now } : {}),
  });
  const merged = withComparison(await attachReading(await mergeProposal({ plan: base, proposal, grounding, analysis, model: client.model, probe }), intent.reading, 0, probe, analysis), rules);
  const disputed = merged.reading?.comparison?.disagreements.length ?? 0;
  say(disputed ? `   the rules read ${disputed} part(s) of the description differently: each is a decision in review` : '   the rules read the description the same way');

  const usage = transcript.exchanges.reduce(
    (u, x) => ({ inputTokens: u.inputTokens + x.response.usage.inputTokens, outputTokens: u.outputTokens + x.response.usage.outputTokens, requests: u.requests + 1 }),
    { inputTokens: 0, outputTokens: 0, requests: 0 },
  );
  const answeredBy = transcript.exchanges.at(-1)?.response.model ?? client.model;
  const plan = MigrationPlan.parse({
    ...merged,
    generator: {
      kind: 'claude',
      version: CLAUDE_PLANNER_VERSION,
      model: answeredBy,
      promptHash: prompt.sha256,
      usage,
      costUsd: estimateCostUsd(answeredBy, usage),
    },
  });
  return { analysis, plan, transcript };
}

export interface ProgramTransforms {
  /** Function bodies by target column. */
  bodies: Record<string, string>;
  generator: GeneratedScript['generator'];
  transcript: ModelTranscript;
}

/**
 * The Code Interpreter's Claude step for an approved plan with transform columns: the model
 * writes each function body, held to the row types by the type-check (repaired with the
 * compiler's diagnostics). Live or replayed from a transcript, like planning.
 */
export async function writeProgramTransforms(input: {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  model: ModelSource;
  prompt?: PromptTemplate;
  say?: Say;
}): Promise<ProgramTransforms> {
  const say = input.say ?? (() => {});
  const prompt = input.prompt ?? (await loadPrompt(CODE_INTERPRETER_PROMPT));
  const { transcript, client } = modelSession(input.model);
  say(`🤖 Code Interpreter: ${client.model} writes the function(s) the plan describes: ${input.plan.columns.filter((c) => c.origin.kind === 'transform').map((c) => c.target).join(', ')}`);
  const { script, transforms } = await writeTransforms({ plan: input.plan, analysis: input.analysis, client, prompt });
  return { bodies: transforms, generator: script.generator, transcript };
}

/** The rules' reading of the same words, to compare with the model's; their refusal is kept as such. */
async function rulesReading(description: string, analysis: SchemaAnalysis, source: Connections['source'], now: Date): Promise<DescriptionReading | { refused: string }> {
  try {
    return (await readForPlanning(description, analysis, source, now)).reading;
  } catch (e) {
    if (e instanceof FerryError) return { refused: `${e.code}: ${e.message}` };
    throw e;
  }
}

/** The plan with the comparison of its (model's) reading against the rules': each disagreement a review item. */
function withComparison(plan: MigrationPlan, rules: DescriptionReading | { refused: string }): MigrationPlan {
  if (!plan.reading) return plan;
  const disagreements = compareReadings(plan.reading.artifact, rules);
  const comparison = { rules: 'refused' in rules ? rules : { artifact: rules, hash: readingHash(rules) }, disagreements };
  const open = reviewItems({ ...plan, reading: { ...plan.reading, comparison } }).length;
  const reasons = plan.risk.reasons.filter((r) => !/decision\(s\) need a person/.test(r));
  if (disagreements.length) reasons.unshift(`the model and the rules read ${disagreements.length} part(s) of the description differently: a person decides each`);
  if (open) reasons.unshift(`${open} decision(s) need a person before this plan can run`);
  return MigrationPlan.parse({ ...plan, reading: { ...plan.reading, comparison }, risk: { level: open > 0 ? 'high' : plan.risk.level, reasons } });
}

/** The tool the first recorded request offered: tells a replay which steps the run took. */
function firstTool(transcript: ModelTranscript): string | undefined {
  const tools = transcript.exchanges[0]?.request.tools;
  return Array.isArray(tools) ? (tools[0] as { name?: string } | undefined)?.name : undefined;
}
