import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { HttpError, parseBody, readJson, send } from './http.js';

/**
 * The service's route table: every route is `{ method, pattern, auth, handler }`, matched in
 * `dispatch` alone. A pattern is literal segments and `:name` parameters; the body schema,
 * when a route takes one, is checked before its handler runs.
 */
export type Method = 'GET' | 'POST';

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The pattern's `:name` segments, percent-decoded. */
  params: Record<string, string>;
}

/** What a handler answers with; a handler that wrote the response itself returns nothing. */
export type Reply = { status: number; body: unknown } | void;

export interface Route {
  method: Method;
  pattern: string;
  /** Whether the route needs `Authorization: Bearer <token>`. */
  auth: boolean;
  handler: (r: RouteRequest) => Promise<Reply>;
}

/** A route whose handler receives its body already checked against `schema`. */
export function withBody<S extends z.ZodType>(
  method: Method,
  pattern: string,
  schema: S,
  handler: (r: RouteRequest, body: z.infer<S>) => Promise<Reply>,
): Route {
  return { method, pattern, auth: true, handler: async (r) => handler(r, parseBody(schema, await readJson(r.req))) };
}

export function noBody(method: Method, pattern: string, handler: (r: RouteRequest) => Promise<Reply>, auth = true): Route {
  return { method, pattern, auth, handler };
}

/** The parameters when `segments` fit `pattern`, else null. */
export function matchPattern(pattern: string, segments: string[]): Record<string, string> | null {
  const want = pattern.split('/').filter(Boolean);
  if (want.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = segments[i]!;
    else if (w !== segments[i]) return null;
  }
  return params;
}

function decodeSegments(raw: string[]): string[] {
  return raw.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new HttpError(400, 'PATH_INVALID', `the path segment "${segment}" is not valid percent-encoding`);
    }
  });
}

/** The route for `method` among those whose pattern fits; 405 (with `Allow`) when only the method is wrong, 404 when none fits. */
function pick(routes: Route[], method: string, segments: string[], r: Omit<RouteRequest, 'params'>): { route: Route; params: Record<string, string> } {
  const fitting = routes.flatMap((route) => {
    const params = matchPattern(route.pattern, segments);
    return params ? [{ route, params }] : [];
  });
  const hit = fitting.find((f) => f.route.method === method);
  if (hit) return hit;
  if (fitting.length > 0) {
    const allow = [...new Set(fitting.map((f) => f.route.method))].join(', ');
    r.res.setHeader('allow', allow);
    throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} ${r.url.pathname} is not a route; this path takes ${allow}`);
  }
  throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${r.url.pathname}`);
}

/**
 * Routes a request: public routes are matched on the raw path; everything else under /api
 * needs the token first (so nothing from the path is decoded, and no route is disclosed,
 * before it is checked), then is matched on the decoded segments.
 */
export async function dispatch(routes: Route[], r: Omit<RouteRequest, 'params'>, authorized: (req: IncomingMessage) => boolean): Promise<void> {
  const method = r.req.method ?? 'GET';
  const raw = r.url.pathname.split('/').filter(Boolean);
  const isPublic = (route: Route) => !route.auth && matchPattern(route.pattern, raw) !== null;
  let chosen: { route: Route; params: Record<string, string> };
  if (routes.some(isPublic)) {
    chosen = pick(routes.filter((route) => !route.auth), method, raw, r);
  } else {
    if (raw[0] !== 'api') throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${r.url.pathname}`);
    if (!authorized(r.req)) {
      r.res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'UNAUTHORIZED', 'this route needs Authorization: Bearer <token>');
    }
    chosen = pick(routes.filter((route) => route.auth), method, decodeSegments(raw), r);
  }
  const reply = await chosen.route.handler({ ...r, params: chosen.params });
  if (reply) send(r.res, reply.status, reply.body);
}
