import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server that speaks enough of the Messages API (POST /v1/messages, non-streaming,
 * tool_use answers, error bodies, retry headers) for the real @anthropic-ai/sdk to talk to it
 * through its baseURL. Replies are scripted in order; each request is kept for assertions. A
 * request with no reply left gets a 500 naming the fact, so a test asking more than it scripted
 * fails loudly instead of hanging.
 */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Hold the response this long before answering (a slow or hung API). */
  delayMs?: number;
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: {
    model: string;
    max_tokens: number;
    system?: string;
    messages: Array<{ role: string; content: unknown }>;
    tools?: Array<{ name: string; input_schema: unknown }>;
    tool_choice?: { type: string; name?: string };
    stream?: boolean;
  };
}

export interface FakeAnthropic {
  baseURL: string;
  requests: ReceivedRequest[];
  /** Replies not yet used. */
  pending(): number;
  close(): Promise<void>;
}

export async function startFakeAnthropic(replies: Reply[]): Promise<FakeAnthropic> {
  const queue = [...replies];
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake_${requests.length}`, ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/v1/messages') return send(404, { type: 'error', error: { type: 'not_found_error', message: `${req.method} ${req.url}` } });
      // The SDK sends the key as x-api-key or as a bearer token, depending on its version.
      const key = req.headers['x-api-key'] ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!key || !req.headers['anthropic-version']) {
        return send(401, { type: 'error', error: { type: 'authentication_error', message: 'an API key and anthropic-version are required' } });
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedRequest['body'];
      requests.push({ path: req.url, headers: req.headers, body });
      if (body.stream) return send(400, { type: 'error', error: { type: 'invalid_request_error', message: 'this fake does not stream' } });
      const reply = queue.shift();
      if (!reply) return send(500, { type: 'error', error: { type: 'api_error', message: `fake: no reply scripted for request ${requests.length}` } }, { 'x-should-retry': 'false' });
      const answer = () => send(reply.status ?? 200, reply.body ?? {}, reply.headers);
      if (reply.delayMs) {
        const timer = setTimeout(answer, reply.delayMs);
        res.on('close', () => clearTimeout(timer));
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}`,
    requests,
    pending: () => queue.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let ids = 0;

/** A Messages API answer that calls `tool` with `input`. */
export function toolUse(tool: string, input: unknown, opts: { inputTokens?: number; outputTokens?: number; stopReason?: string; model?: string; thinking?: string } = {}): Reply {
  ids += 1;
  return {
    body: {
      id: `msg_fake_${ids}`,
      type: 'message',
      role: 'assistant',
      model: opts.model ?? 'claude-sonnet-5-5',
      content: [
        ...(opts.thinking === undefined ? [] : [{ type: 'thinking', thinking: opts.thinking, signature: `sig_${ids}` }]),
        { type: 'tool_use', id: `toolu_fake_${ids}`, name: tool, input },
      ],
      stop_reason: opts.stopReason ?? 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: opts.inputTokens ?? 1200, output_tokens: opts.outputTokens ?? 300 },
    },
  };
}

export function apiError(status: number, type: string, message: string, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: { type: 'error', error: { type, message } } };
}

/** A fixture file of test/claude/fixtures: JSON, read as it is. */
export function fixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
}
