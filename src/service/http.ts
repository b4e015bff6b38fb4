import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import { FerryError, InputError, NotFoundError } from '../core/errors.js';

/** An error the API answers with its own status (the rest are mapped by `errorStatus`). */
export class HttpError extends FerryError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly issues?: Array<{ path: string; message: string }>,
  ) {
    super(code, 'user', message);
  }
}

const CONFLICT_CODES = new Set(['PLAN_NOT_APPROVED', 'PLAN_NEEDS_REVIEW', 'PLAN_REJECTED', 'PLAN_REVISION_STALE', 'ANALYSIS_STALE', 'MIGRATION_ALREADY_RUNNING', 'RUN_NOT_REPLAYABLE', 'PLAN_DECIDED', 'QUEUED_RUN_IN_PROGRESS']);

export function errorStatus(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof NotFoundError && /NOT_FOUND$/.test(e.code)) return 404;
  if (e instanceof FerryError && CONFLICT_CODES.has(e.code)) return 409;
  if (e instanceof FerryError && e.category === 'user') return 400;
  if (e instanceof FerryError && e.category === 'third_party') return 502;
  return 500;
}

export function errorBody(e: unknown): { error: Record<string, unknown> } {
  if (e instanceof FerryError) {
    return {
      error: {
        code: e.code,
        message: e.message,
        ...(e.hint ? { hint: e.hint } : {}),
        ...(e instanceof HttpError && e.issues ? { issues: e.issues } : {}),
      },
    };
  }
  return { error: { code: 'INTERNAL', message: 'the service failed unexpectedly; the log has the details' } };
}

export function parseBody<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
    throw new HttpError(400, 'BODY_INVALID', `the request body is not valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return r.data;
}

export const MAX_BODY_BYTES = 1 << 20;

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'BODY_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BODY_NOT_JSON', 'the request body is not JSON');
  }
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * JSON for one `data:` line. JSON.stringify leaves U+2028/U+2029 raw, and line-based readers
 * (a regex's `.` and `$`, some SSE clients) take them for line ends; escaped, they cannot split a frame.
 */
export function sseJson(value: unknown): string {
  return JSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function revisionParam(raw: string | null | undefined): number {
  const n = Number(raw);
  if (raw === null || raw === undefined || !Number.isInteger(n) || n <= 0) throw new InputError('ARG_INVALID', `expected a revision (a positive integer), got "${raw ?? ''}"`);
  return n;
}

export function runIdParam(raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n <= 0) throw new InputError('ARG_INVALID', `expected a run id (a positive integer), got "${raw ?? ''}"`);
  return n;
}
