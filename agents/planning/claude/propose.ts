import type { SchemaAnalysis } from '../../../src/core/artifacts/schema-analysis.js';
import type { PromptTemplate } from '../../../src/core/llm/prompts.js';
import { toolStep } from '../../../src/core/llm/tool-step.js';
import { answerToolUses, type ModelClient, type ModelMessage, type ModelResponse } from '../../../src/core/llm/types.js';
import { focusMessage, planningUserMessage } from './context.js';
import { groundColumns, type ColumnsGrounding } from './ground.js';
import { groundReading, type GroundedReading } from './reading.js';
import { COLUMNS_TOOL, ColumnsProposal, INTENT_TOOL, IntentProposal, TOOLS, type PlanProposal } from './proposal.js';

export { MAX_REPAIRS } from '../../../src/core/llm/tool-step.js';
const MAX_TOKENS = 8192;
const HINT = 'name the tables and columns in the description, or plan with --llm off and the phrasing "from <table> into <table>"';

export interface ProposeResult {
  proposal: PlanProposal;
  /** The analysis focused on the chosen rows (what the rules then plan with). */
  analysis: SchemaAnalysis;
  /** The model's reading of the description, grounded, with the tables and filter it gives. */
  intent: Extract<GroundedReading, { ok: true }>;
  /** The model's expressions as ferry checked them (and refused, once the repairs ran out). */
  grounding: ColumnsGrounding;
  responses: ModelResponse[];
}

/**
 * Two steps in one conversation. First the model reads the description against the schemas
 * span by span, into a DescriptionReading giving source, filter and target (grounded); then `focus` profiles the rows under that
 * filter, and the model, shown those values, maps every target column and enum value.
 */
export async function proposePlan(input: {
  description: string;
  analysis: SchemaAnalysis;
  client: ModelClient;
  prompt: PromptTemplate;
  focus: (intent: Extract<GroundedReading, { ok: true }>) => Promise<SchemaAnalysis>;
  /** When relative dates in the words are resolved. */
  now?: Date;
}): Promise<ProposeResult> {
  const { client, prompt } = input;
  const responses: ModelResponse[] = [];
  const messages: ModelMessage[] = [{ role: 'user', content: planningUserMessage(input.description, input.analysis) }];
  const step = { client, prompt, messages, tools: TOOLS, responses, maxTokens: MAX_TOKENS, hint: HINT };
  const step1 = await toolStep({ ...step, tool: INTENT_TOOL, schema: IntentProposal, check: (v: IntentProposal) => groundReading(v, { description: input.description, analysis: input.analysis, model: client.model, now: input.now ?? new Date() }) });
  const intent = step1.grounded;
  const focused = await input.focus(intent);
  messages.push(answerToolUses(step1.content, step1.use, focusMessage(focused), false));
  const step2 = await toolStep({ ...step, tool: COLUMNS_TOOL, schema: ColumnsProposal, check: (v: ColumnsProposal) => groundColumns(v, intent.source, intent.target, focused) });
  const { expressions, fromTransforms, refused } = step2.grounded;
  return { proposal: { ...step1.value, ...step2.value }, analysis: focused, intent, grounding: { expressions, fromTransforms, refused }, responses };
}
