import type { z } from 'zod';
import { ModelError } from './errors.js';
import type { PromptTemplate } from './prompts.js';
import { answerToolUses, type ModelClient, type ModelMessage, type ModelResponse, type ModelTool, type ToolUseBlock } from './types.js';

/** Repair turns after the first answer: each feeds the problems back to the model. */
export const MAX_REPAIRS = 2;

export type Check<T, G> = (value: T) => ({ ok: true } & G) | { ok: false; offenders: string[] };

/**
 * One tool call, repaired: an answer that fails the schema or names what the analysis does
 * not contain goes back to the model as a tool error listing every problem (zod's issues by
 * path, or the offenders with what does exist), at most MAX_REPAIRS times; then the last
 * problems are thrown (MODEL_OUTPUT_INVALID or MODEL_NOT_GROUNDED). The accepted call is left
 * open in `messages`: the caller answers it.
 */
export async function toolStep<T, G>(input: {
  client: ModelClient;
  prompt: PromptTemplate;
  messages: ModelMessage[];
  tools: ModelTool[];
  tool: string;
  schema: z.ZodType<T>;
  check: Check<T, G>;
  responses: ModelResponse[];
  maxTokens: number;
  hint: string;
}): Promise<{ value: T; grounded: G; use: ToolUseBlock; content: ModelResponse['content'] }> {
  const { client, prompt, messages, tool } = input;
  for (let turn = 0; ; turn++) {
    // Not a forced tool_choice: current models refuse it (400). The prompt and the step's text
    // name the tool, and an answer without the call gets a repair turn like any other.
    const response = await client.createMessage({ system: prompt.text, messages, tools: input.tools, toolChoice: { type: 'auto' }, maxTokens: input.maxTokens });
    input.responses.push(response);
    messages.push({ role: 'assistant', content: response.content });
    const use = response.content.find((b): b is ToolUseBlock => b.type === 'tool_use' && b.name === tool);
    let code: 'MODEL_OUTPUT_INVALID' | 'MODEL_NOT_GROUNDED' = 'MODEL_OUTPUT_INVALID';
    let problems: string[];
    if (!use) {
      problems = [`the answer has no ${tool} call (stop reason ${response.stopReason ?? 'none'})`];
    } else {
      const parsed = input.schema.safeParse(use.input);
      if (!parsed.success) {
        problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(the whole input)'}: ${i.message}`);
        if (response.stopReason === 'max_tokens') problems.unshift('the answer was cut off at max_tokens; keep it shorter');
      } else {
        const grounded = input.check(parsed.data);
        if (grounded.ok) return { value: parsed.data, grounded, use, content: response.content };
        code = 'MODEL_NOT_GROUNDED';
        problems = grounded.offenders;
      }
    }
    if (turn >= MAX_REPAIRS) {
      const what = code === 'MODEL_NOT_GROUNDED' ? 'names what the analysed schemas do not contain' : `does not match the ${tool} schema`;
      throw new ModelError(code, 'third_party', `the model's ${tool} answer ${what}, after ${turn + 1} answers:\n  - ${problems.join('\n  - ')}`, {
        hint: input.hint,
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
