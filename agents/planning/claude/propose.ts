import type { z } from 'zod';
import type { SchemaAnalysis } from '../../../src/artifacts/schema-analysis.js';
import { ModelError } from '../../../src/llm/errors.js';
import type { PromptTemplate } from '../../../src/llm/prompts.js';
import { answerToolUses, type ModelClient, type ModelMessage, type ModelResponse, type ToolUseBlock } from '../../../src/llm/types.js';
import { focusMessage, planningUserMessage } from './context.js';
import { groundColumns, groundIntent } from './ground.js';
import { COLUMNS_TOOL, ColumnsProposal, INTENT_TOOL, IntentProposal, TOOLS, type PlanProposal } from './proposal.js';

/** Repair turns per step after the first answer: each feeds the problems back to the model. */
export const MAX_REPAIRS = 2;
const MAX_TOKENS = 8192;

type Check<T, G> = (value: T) => ({ ok: true } & G) | { ok: false; offenders: string[] };

/**
 * One forced tool call, repaired: an answer that fails the schema or names what the analysis
 * does not contain goes back to the model as a tool error listing every problem (zod's issues
 * by path, or the offenders with what does exist), at most MAX_REPAIRS times; then the last
 * problems are thrown with a stable code. Leaves the accepted tool call open in `messages`:
 * the next step answers it.
 */
async function toolStep<T, G>(
  client: ModelClient,
  prompt: PromptTemplate,
  messages: ModelMessage[],
  tool: string,
  schema: z.ZodType<T>,
  check: Check<T, G>,
  responses: ModelResponse[],
): Promise<{ value: T; grounded: G; use: ToolUseBlock; content: ModelResponse['content'] }> {
  for (let turn = 0; ; turn++) {
    // Not a forced tool_choice: current models refuse it (400). The prompt and this step's text
    // name the tool, and an answer without the call gets a repair turn like any other.
    const response = await client.createMessage({ system: prompt.text, messages, tools: TOOLS, toolChoice: { type: 'auto' }, maxTokens: MAX_TOKENS });
    responses.push(response);
    messages.push({ role: 'assistant', content: response.content });
    const use = response.content.find((b): b is ToolUseBlock => b.type === 'tool_use' && b.name === tool);
    let code: 'MODEL_OUTPUT_INVALID' | 'MODEL_NOT_GROUNDED' = 'MODEL_OUTPUT_INVALID';
    let problems: string[];
    if (!use) {
      problems = [`the answer has no ${tool} call (stop reason ${response.stopReason ?? 'none'})`];
    } else {
      const parsed = schema.safeParse(use.input);
      if (!parsed.success) {
        problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(the whole input)'}: ${i.message}`);
        if (response.stopReason === 'max_tokens') problems.unshift('the answer was cut off at max_tokens; keep it shorter');
      } else {
        const grounded = check(parsed.data);
        if (grounded.ok) return { value: parsed.data, grounded, use, content: response.content };
        code = 'MODEL_NOT_GROUNDED';
        problems = grounded.offenders;
      }
    }
    if (turn >= MAX_REPAIRS) {
      const what = code === 'MODEL_NOT_GROUNDED' ? 'names what the analysed schemas do not contain' : `does not match the ${tool} schema`;
      throw new ModelError(code, 'third_party', `the model's ${tool} answer ${what}, after ${turn + 1} answers:\n  - ${problems.join('\n  - ')}`, {
        hint: 'name the tables and columns in the description, or plan with --llm off and the phrasing "from <table> into <table>"',
        details: { step: tool, problems, answers: turn + 1 },
      });
    }
    const feedback =
      code === 'MODEL_NOT_GROUNDED'
        ? `Rejected: the answer names what the schemas do not contain. Use only names from the schemas.\n- ${problems.join('\n- ')}\nCall ${tool} again, corrected.`
        : `Rejected: the input does not match the tool's input schema.\n- ${problems.join('\n- ')}\nCall ${tool} again with input that matches the schema.`;
    messages.push(answerToolUses(response.content, use, feedback, true));
  }
}

export interface ProposeResult {
  proposal: PlanProposal;
  /** The analysis focused on the chosen rows (what the rules then plan with). */
  analysis: SchemaAnalysis;
  intent: Extract<ReturnType<typeof groundIntent>, { ok: true }>;
  responses: ModelResponse[];
}

/**
 * Two steps in one conversation. First the model reads the description against the schemas
 * and chooses source, filter and target (grounded); then `focus` profiles the rows under that
 * filter, and the model, shown those values, maps every target column and enum value.
 */
export async function proposePlan(input: {
  description: string;
  analysis: SchemaAnalysis;
  client: ModelClient;
  prompt: PromptTemplate;
  focus: (intent: Extract<ReturnType<typeof groundIntent>, { ok: true }>) => Promise<SchemaAnalysis>;
}): Promise<ProposeResult> {
  const { client, prompt } = input;
  const responses: ModelResponse[] = [];
  const messages: ModelMessage[] = [{ role: 'user', content: planningUserMessage(input.description, input.analysis) }];
  const step1 = await toolStep(client, prompt, messages, INTENT_TOOL, IntentProposal, (v) => groundIntent(v, input.analysis), responses);
  const intent = step1.grounded;
  const focused = await input.focus(intent);
  messages.push(answerToolUses(step1.content, step1.use, focusMessage(focused), false));
  const step2 = await toolStep(client, prompt, messages, COLUMNS_TOOL, ColumnsProposal, (v) => groundColumns(v, intent.source, intent.target, focused), responses);
  return { proposal: { ...step1.value, ...step2.value }, analysis: focused, intent, responses };
}
