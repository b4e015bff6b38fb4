import type Anthropic from '@anthropic-ai/sdk';
import type { APIError } from '@anthropic-ai/sdk';
import { ModelError } from './errors.js';
import type { ContentBlock, ModelClient, ModelRequest, ModelResponse } from './types.js';

export interface AnthropicClientOptions {
  apiKey: string;
  /** ANTHROPIC_BASE_URL; the SDK's default (api.anthropic.com) when undefined. */
  baseURL?: string | undefined;
  model: string;
  /** Per request, retries not included. */
  timeoutMs: number;
  /** Retries after a 429, 529 or other 5xx (so at most maxRetries + 1 attempts). */
  maxRetries: number;
  /** Backoff without a retry-after header: baseDelayMs · 2^attempt, capped, with jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected by tests so backoff can be observed without waiting. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** The SDK module, imported on first call: it is a thousand files that commands without a model must not load. */
type Sdk = typeof import('@anthropic-ai/sdk');

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A retry-after (seconds or HTTP date) or retry-after-ms header, in ms; null when absent or unusable. */
export function retryAfterMs(headers: Headers | undefined, now: number = Date.now()): number | null {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const raw = headers?.get('retry-after');
  if (!raw) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * The ModelClient over @anthropic-ai/sdk. The SDK's timeout is used as is; its retries are off
 * (maxRetries: 0) and kept in this small loop because the SDK's (1.12) cannot do three things
 * ferry needs: cap a retry-after at a minute (the SDK waits up to 2^31 ms), name every
 * attempt's cause in the final error (it throws only the last), and take an injected sleep
 * (test/claude observes the exact backoff without waiting). 429 and 529/5xx back off
 * (honouring retry-after) and retry; a timeout or a refused connection is retried the same
 * way; 4xx other than 429 fail at once.
 */
export class AnthropicModelClient implements ModelClient {
  readonly model: string;
  private sdk: Promise<{ mod: Sdk; client: Anthropic }> | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: AnthropicClientOptions) {
    this.model = options.model;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  private client(): Promise<{ mod: Sdk; client: Anthropic }> {
    const { apiKey, baseURL, timeoutMs } = this.options;
    this.sdk ??= import('@anthropic-ai/sdk').then((mod) => ({
      mod,
      client: new mod.default({ apiKey, ...(baseURL ? { baseURL } : {}), maxRetries: 0, timeout: timeoutMs }),
    }));
    return this.sdk;
  }

  async createMessage(request: ModelRequest): Promise<ModelResponse> {
    const { mod, client } = await this.client();
    const attempts: string[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        const message = await client.messages.create({
          model: this.model,
          max_tokens: request.maxTokens,
          system: request.system,
          messages: request.messages as Anthropic.MessageParam[],
          ...(request.tools ? { tools: request.tools as Anthropic.Tool[] } : {}),
          ...(request.toolChoice ? { tool_choice: request.toolChoice } : {}),
        });
        const content: ContentBlock[] = [];
        for (const block of message.content) {
          if (block.type === 'text') content.push({ type: 'text', text: block.text });
          else if (block.type === 'tool_use') content.push({ type: 'tool_use', id: block.id, name: block.name, input: block.input });
          else if (block.type === 'thinking' || block.type === 'redacted_thinking') content.push({ ...block });
        }
        return {
          content,
          usage: { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens },
          stopReason: message.stop_reason,
          model: message.model,
        };
      } catch (e) {
        const failure = classify(mod, e, this.options.timeoutMs);
        attempts.push(failure.summary);
        if (!failure.retryable || attempt >= this.options.maxRetries) {
          throw new ModelError(failure.code, failure.category, `${failure.summary}${attempts.length > 1 ? ` (after ${attempts.length} attempts: ${attempts.join('; ')})` : ''}`, {
            cause: e,
            hint: failure.hint,
            details: { attempts, model: this.model, ...(failure.status === undefined ? {} : { status: failure.status }) },
          });
        }
        await this.sleep(this.delayMs(attempt, failure.retryAfterMs));
      }
    }
  }

  private delayMs(attempt: number, retryAfter: number | null): number {
    if (retryAfter !== null) return Math.min(retryAfter, 60_000);
    const base = Math.min((this.options.baseDelayMs ?? 500) * 2 ** attempt, this.options.maxDelayMs ?? 8_000);
    return Math.round(base * (1 - this.random() * 0.25));
  }
}

interface Failure {
  code: string;
  category: 'user' | 'third_party';
  summary: string;
  hint: string;
  retryable: boolean;
  retryAfterMs: number | null;
  status?: number;
}

function classify({ APIConnectionError, APIConnectionTimeoutError, APIError }: Sdk, e: unknown, timeoutMs: number): Failure {
  if (e instanceof APIConnectionTimeoutError) {
    return { code: 'MODEL_TIMEOUT', category: 'third_party', summary: `the model API did not answer within ${timeoutMs} ms`, hint: 'raise FERRY_MODEL_TIMEOUT_MS or try again later', retryable: true, retryAfterMs: null };
  }
  if (e instanceof APIConnectionError) {
    return { code: 'MODEL_UNREACHABLE', category: 'third_party', summary: `cannot reach the model API: ${e.message}`, hint: 'check the network and ANTHROPIC_BASE_URL', retryable: true, retryAfterMs: null };
  }
  if (e instanceof APIError && typeof e.status === 'number') {
    const status = e.status;
    const apiMessage = apiErrorMessage(e);
    const after = retryAfterMs(e.headers ?? undefined);
    if (status === 429) {
      return { code: 'MODEL_RATE_LIMITED', category: 'third_party', summary: `rate limited by the model API (429): ${apiMessage}`, hint: 'wait and try again, or lower concurrency', retryable: true, retryAfterMs: after, status };
    }
    if (status === 529 || status >= 500) {
      return { code: 'MODEL_OVERLOADED', category: 'third_party', summary: `the model API is ${status === 529 ? 'overloaded' : 'failing'} (${status}): ${apiMessage}`, hint: 'try again later, or plan with --llm off', retryable: true, retryAfterMs: after, status };
    }
    if (status === 401 || status === 403) {
      return { code: 'MODEL_AUTH_FAILED', category: 'user', summary: `the model API refused the key (${status}): ${apiMessage}`, hint: 'check ANTHROPIC_API_KEY', retryable: false, retryAfterMs: null, status };
    }
    return { code: 'MODEL_API_ERROR', category: 'third_party', summary: `the model API answered ${status}: ${apiMessage}`, hint: 'the request was refused as sent; check FERRY_MODEL and the message above', retryable: false, retryAfterMs: null, status };
  }
  return { code: 'MODEL_API_ERROR', category: 'third_party', summary: `the model call failed: ${e instanceof Error ? e.message : String(e)}`, hint: 'see the cause', retryable: false, retryAfterMs: null };
}

function apiErrorMessage(e: APIError): string {
  const body = e.error as { error?: { message?: unknown; type?: unknown } } | undefined;
  const m = body?.error?.message;
  const t = body?.error?.type;
  return typeof m === 'string' ? `${typeof t === 'string' ? `${t}: ` : ''}${m}` : e.message;
}
