import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { canonicalJson, contentHash } from '../artifacts/hash.js';
import { ModelError } from './errors.js';
import type { ModelClient, ModelRequest, ModelResponse } from './types.js';

/**
 * Every exchange with the model, kept beside the plan it produced (`<plan>.model.json`), so a
 * reviewer can read what was asked and answered, and the plan can be made again from it
 * without the network.
 */
const Usage = z.object({ inputTokens: z.number().int().nonnegative(), outputTokens: z.number().int().nonnegative() });
const Block = z.union([
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown() }),
  z.looseObject({ type: z.enum(['thinking', 'redacted_thinking']) }),
]);

export const ModelExchange = z.object({
  /** contentHash of the request: what a replay matches on. */
  requestHash: z.string(),
  request: z.record(z.string(), z.unknown()),
  response: z.object({ content: z.array(Block), usage: Usage, stopReason: z.string().nullable(), model: z.string() }),
});
export type ModelExchange = z.infer<typeof ModelExchange>;

export const ModelTranscript = z.object({
  kind: z.literal('model_transcript'),
  version: z.literal(1),
  model: z.string(),
  exchanges: z.array(ModelExchange),
});
export type ModelTranscript = z.infer<typeof ModelTranscript>;

export function requestHash(request: ModelRequest): string {
  // JSON round trip first: undefined fields must not make two equal requests differ.
  return contentHash(JSON.parse(canonicalJson(request)));
}

/** Wraps a client; every answered request is appended to `transcript.exchanges`. */
export function recording(inner: ModelClient, transcript: ModelTranscript): ModelClient {
  return {
    model: inner.model,
    async createMessage(request) {
      const response = await inner.createMessage(request);
      transcript.exchanges.push({
        requestHash: requestHash(request),
        request: JSON.parse(JSON.stringify(request)) as Record<string, unknown>,
        response: JSON.parse(JSON.stringify(response)) as ModelResponse,
      });
      return response;
    },
  };
}

export function emptyTranscript(model: string): ModelTranscript {
  return { kind: 'model_transcript', version: 1, model, exchanges: [] };
}

/**
 * Answers from a transcript, in order, and only a request identical to the recorded one: a
 * changed prompt, description or analysis is a different question, and is refused loudly
 * (MODEL_REPLAY_MISS) rather than answered with a stale reply. Never touches the network.
 */
export function replaying(transcript: ModelTranscript): ModelClient & { readonly remaining: number } {
  let next = 0;
  return {
    model: transcript.model,
    get remaining() {
      return transcript.exchanges.length - next;
    },
    async createMessage(request) {
      const hash = requestHash(request);
      const recorded = transcript.exchanges[next];
      if (!recorded) {
        throw new ModelError('MODEL_REPLAY_MISS', 'user', `the transcript has ${transcript.exchanges.length} exchange(s) and all were used; request ${next + 1} was not recorded`, {
          hint: 'plan again with the API (the transcript was made for a different run)',
          details: { requestHash: hash, index: next },
        });
      }
      if (recorded.requestHash !== hash) {
        throw new ModelError('MODEL_REPLAY_MISS', 'user', `request ${next + 1} differs from the recorded one (${hash.slice(0, 12)}… vs ${recorded.requestHash.slice(0, 12)}…): the description, analysis or prompt changed since it was recorded`, {
          hint: 'plan again with the API, or replay against the databases and prompt it was recorded with',
          details: { requestHash: hash, recordedHash: recorded.requestHash, index: next },
        });
      }
      next += 1;
      return structuredClone(recorded.response) as ModelResponse;
    },
  };
}

export async function loadTranscript(path: string): Promise<ModelTranscript> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new ModelError('MODEL_TRANSCRIPT_INVALID', 'user', `cannot read a model transcript at ${path}: ${(cause as Error).message}`, { cause });
  }
  const parsed = ModelTranscript.safeParse(json);
  if (!parsed.success) {
    throw new ModelError('MODEL_TRANSCRIPT_INVALID', 'user', `${path} is not a model transcript:\n${z.prettifyError(parsed.error)}`, {
      hint: 'pass the <plan>.model.json written beside a plan made with --llm claude',
    });
  }
  return parsed.data;
}
