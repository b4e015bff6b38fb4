import * as z from 'zod';
import { ModelError } from './errors.js';
import type { PromptTemplate } from './prompts.js';
import { answerToolUses, type ModelClient, type ModelMessage, type ModelRequest, type ModelResponse, type ModelTool, type ModelUsage, type ToolUseBlock } from './types.js';

/** Repair turns after the first answer: each feeds the problems back to the model. */
export const MAX_REPAIRS = 2;

/** Why an answer was sent back: the schema, names the schemas lack, code that does not compile, or an expression ferry refuses. */
export type RepairCode = 'MODEL_OUTPUT_INVALID' | 'MODEL_NOT_GROUNDED' | 'MODEL_CODE_INVALID' | 'MODEL_EXPRESSION_INVALID';

/**
 * `settle`: what to accept instead of failing once the repair turns are spent, when the
 * problems are ones a person can decide (the value carries them as review items).
 */
export type CheckFailure = { ok: false; offenders: string[]; code?: RepairCode; settle?: { ok: true } };
export type CheckResult<G> = ({ ok: true } & G) | CheckFailure;
/** Judges a schema-valid answer; a failure (MODEL_NOT_GROUNDED unless it says) is sent back. */
export type Check<T> = (value: T, response: ModelResponse) => { ok: true } | CheckFailure | Promise<{ ok: true } | CheckFailure>;
/** What a check accepted: its success value. */
type Accepted<C extends Check<never>> = Extract<Awaited<ReturnType<C>>, { ok: true }>;

/** A tool's input_schema: the zod schema as JSON Schema, so the model and safeParse agree. */
export function toolInputSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/** Tokens and requests of a conversation's answers. */
export function usageOf(responses: readonly ModelResponse[]): ModelUsage & { requests: number } {
  return responses.reduce(
    (u, r) => ({ inputTokens: u.inputTokens + r.usage.inputTokens, outputTokens: u.outputTokens + r.usage.outputTokens, requests: u.requests + 1 }),
    { inputTokens: 0, outputTokens: 0, requests: 0 },
  );
}

const FAILED: Record<RepairCode, string> = {
  MODEL_OUTPUT_INVALID: 'does not match the tool schema',
  MODEL_NOT_GROUNDED: 'names what the analysed schemas do not contain',
  MODEL_CODE_INVALID: 'is code that does not type-check',
  MODEL_EXPRESSION_INVALID: 'has column expressions ferry refuses',
};

const FEEDBACK: Record<RepairCode, string> = {
  MODEL_OUTPUT_INVALID: "Rejected: the input does not match the tool's input schema.",
  MODEL_NOT_GROUNDED: 'Rejected: the answer names what the schemas do not contain. Use only names from the schemas.',
  MODEL_CODE_INVALID: 'Rejected: the code does not type-check against the row types.',
  MODEL_EXPRESSION_INVALID: 'Rejected: an expression is outside the column language or does not type-check against its target column. Fix each as its refusal says, or give that column another origin.',
};

/** The one retry after an answer cut off at max_tokens asks for this many times the limit (capped). */
export const MAX_TOKENS_GROWTH = 2;
/** The largest output the retry asks for: what current models allow. */
export const MAX_TOKENS_CEILING = 64_000;

/**
 * One answer that can go back into the conversation. A refusal is said as such (MODEL_REFUSED)
 * and an empty answer is refused too: the API rejects an empty assistant turn, so neither is
 * ever appended. An answer cut off at max_tokens is discarded and the same request asked once
 * more with a larger limit; cut off again, it fails (MODEL_MAX_TOKENS).
 */
async function answered(client: ModelClient, request: ModelRequest, input: { tool: string; responses: ModelResponse[]; hint: string }): Promise<ModelResponse> {
  let response = await client.createMessage(request);
  input.responses.push(response);
  if (response.stopReason === 'max_tokens') {
    const larger = Math.max(request.maxTokens, Math.min(request.maxTokens * MAX_TOKENS_GROWTH, MAX_TOKENS_CEILING));
    response = await client.createMessage({ ...request, maxTokens: larger });
    input.responses.push(response);
    if (response.stopReason === 'max_tokens') {
      throw new ModelError('MODEL_MAX_TOKENS', 'third_party', `the model's ${input.tool} answer was cut off at max_tokens twice (${request.maxTokens} tokens, then ${larger})`, {
        hint: `shorten the description, or ${input.hint}`,
        details: { step: input.tool, maxTokens: [request.maxTokens, larger] },
      });
    }
  }
  const said = response.content.flatMap((b) => (b.type === 'text' ? [b.text.trim()] : [])).filter((t) => t.length > 0).join(' ');
  if (response.stopReason === 'refusal') {
    throw new ModelError('MODEL_REFUSED', 'third_party', `the model declined to answer the ${input.tool} step (stop_reason "refusal")${said ? `: ${JSON.stringify(said.slice(0, 300))}` : ''}`, {
      hint: `rephrase the description, or ${input.hint}`,
      details: { step: input.tool, ...(said ? { text: said } : {}) },
    });
  }
  if (response.content.length === 0) {
    throw new ModelError('MODEL_OUTPUT_INVALID', 'third_party', `the model's ${input.tool} answer was empty (stop_reason ${JSON.stringify(response.stopReason)})`, {
      hint: input.hint,
      details: { step: input.tool, problems: ['empty answer'], answers: input.responses.length },
    });
  }
  return response;
}

/** The problems of one answer, or the accepted value. */
async function judge<T, C extends Check<T>>(
  input: { tool: string; schema: z.ZodType<T>; check: C },
  response: ModelResponse,
  use: ToolUseBlock | undefined,
): Promise<{ ok: true; value: T; grounded: Accepted<C> } | { ok: false; code: RepairCode; problems: string[]; settle?: { value: T; grounded: Accepted<C> } }> {
  if (!use) return { ok: false, code: 'MODEL_OUTPUT_INVALID', problems: [`the answer has no ${input.tool} call (stop reason ${response.stopReason ?? 'none'})`] };
  const parsed = input.schema.safeParse(use.input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(the whole input)'}: ${i.message}`);
    return { ok: false, code: 'MODEL_OUTPUT_INVALID', problems };
  }
  const checked = await input.check(parsed.data, response);
  if (checked.ok) return { ok: true, value: parsed.data, grounded: checked as Accepted<C> };
  const failed = checked as CheckFailure;
  const settle = failed.settle ? { value: parsed.data, grounded: failed.settle as Accepted<C> } : undefined;
  return { ok: false, code: failed.code ?? 'MODEL_NOT_GROUNDED', problems: failed.offenders, ...(settle ? { settle } : {}) };
}

/**
 * One tool call, repaired: an answer that fails the schema or the check (names the analysis
 * does not contain, code that does not compile) goes back to the model as a tool error listing
 * every problem, at most MAX_REPAIRS times; then the last problems are thrown with the failure's
 * code, unless the check offered to settle them (problems a person decides, carried as review items). The accepted call is left open in `messages`: the caller answers it. The one repair loop
 * of every Claude step (planning, annotation, transform functions).
 */
export async function toolStep<T, C extends Check<T>>(input: {
  client: ModelClient;
  prompt: PromptTemplate;
  messages: ModelMessage[];
  tools: ModelTool[];
  tool: string;
  schema: z.ZodType<T>;
  check: C;
  responses: ModelResponse[];
  maxTokens: number;
  hint: string;
}): Promise<{ value: T; grounded: Accepted<C>; use: ToolUseBlock; content: ModelResponse['content'] }> {
  const { client, prompt, messages, tool } = input;
  for (let turn = 0; ; turn++) {
    // Not a forced tool_choice: current models refuse it (400). The prompt and the step's text
    // name the tool, and an answer without the call gets a repair turn like any other.
    const response = await answered(client, { system: prompt.text, messages, tools: input.tools, toolChoice: { type: 'auto' }, maxTokens: input.maxTokens }, input);
    messages.push({ role: 'assistant', content: response.content });
    const use = response.content.find((b): b is ToolUseBlock => b.type === 'tool_use' && b.name === tool);
    const verdict = await judge(input, response, use);
    if (verdict.ok) return { value: verdict.value, grounded: verdict.grounded, use: use!, content: response.content };
    const { code, problems } = verdict;
    if (turn >= MAX_REPAIRS && verdict.settle) return { ...verdict.settle, use: use!, content: response.content };
    if (turn >= MAX_REPAIRS) {
      throw new ModelError(code, 'third_party', `the model's ${tool} answer ${FAILED[code]}, after ${turn + 1} answers:\n  - ${problems.join('\n  - ')}`, {
        hint: input.hint,
        details: { step: tool, problems, answers: turn + 1 },
      });
    }
    const feedback = `${FEEDBACK[code]}\n- ${problems.join('\n- ')}\nCall ${tool} again, corrected.`;
    messages.push(answerToolUses(response.content, use, feedback, true));
  }
}
