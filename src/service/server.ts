import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { FerryError, InputError } from '../core/errors.js';
import { packagePath } from '../core/package-root.js';
import type { RunStore } from '../store/run-store.js';
import { ServiceContext, type ServiceOptions } from './context.js';
import { errorBody, errorStatus, send } from './http.js';
import { planRoutes } from './plan-routes.js';
import { dispatch, noBody, type Route } from './routes.js';
import { runRoutes } from './run-routes.js';

export type { ServiceOptions } from './context.js';
export { PROGRAM_CACHE_SIZE } from './context.js';
export { sseJson } from './http.js';

/**
 * `ferry serve`: the HTTP API under /api and the review page at /, on node:http.
 * Every /api route but /api/health needs `Authorization: Bearer <token>`; every body is
 * checked with zod; every error is JSON `{ error: { code, message, hint?, issues? } }` with
 * a stable code. Routes are one table (`routes`), matched in `dispatch` (routes.ts). Runs
 * execute in this process; their events are kept in the run store and streamed live as
 * server-sent events.
 */
export interface RunningService {
  url: string;
  port: number;
  server: Server;
  /** Waits for runs in progress, then stops listening. */
  close(): Promise<void>;
}

export const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * The token the service accepts: FERRY_API_TOKEN when set; else the one generated at first
 * start (only its hash is kept in the run store). A newly generated token is returned so
 * the caller can print it — once.
 */
export async function resolveToken(store: RunStore, configured: string | undefined): Promise<{ sha256: string; generated: string | null }> {
  checkApiToken(configured);
  if (configured) return { sha256: sha256Hex(configured), generated: null };
  const existing = await store.apiTokenHash();
  if (existing) return { sha256: existing, generated: null };
  const token = randomBytes(24).toString('base64url');
  if (await store.saveApiTokenHash(sha256Hex(token))) return { sha256: sha256Hex(token), generated: token };
  return { sha256: (await store.apiTokenHash())!, generated: null };
}

// ---- static review page ---------------------------------------------------------------

const PAGE_DIR = packagePath('src', 'review', 'page');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/**
 * Sent with the page and its files: scripts, styles and requests from this origin only (the
 * page has no inline script or style), and never inside another site's frame.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** Shortest API token accepted: 32 bytes (a generated one is 24 random bytes, 32 characters). */
export const MIN_TOKEN_BYTES = 32;

/** Refuses a configured token too short to resist guessing, before anything starts. */
export function checkApiToken(token: string | undefined): void {
  if (token === undefined) return;
  const bytes = Buffer.byteLength(token, 'utf8');
  if (bytes < MIN_TOKEN_BYTES) {
    throw new InputError('API_TOKEN_TOO_SHORT', `FERRY_API_TOKEN is ${bytes} bytes long; it must be at least ${MIN_TOKEN_BYTES}`, {
      hint: `choose a longer one (e.g. \`openssl rand -base64 32\`), or unset FERRY_API_TOKEN and ferry serve generates one`,
    });
  }
}

// ---- the service ----------------------------------------------------------------------

/** The page and its two files, public like /api/health; everything else needs the token. */
function publicRoutes(ctx: ServiceContext): Route[] {
  const page = Object.entries(STATIC).map(([path, s]) =>
    noBody(
      'GET',
      path,
      async (r) => {
        const bytes = await readFile(join(PAGE_DIR, s.file));
        r.res.writeHead(200, { 'content-type': s.type, 'cache-control': 'no-store', ...PAGE_HEADERS });
        r.res.end(bytes);
      },
      false,
    ),
  );
  const health = noBody('GET', '/api/health', async () => ({ status: 200, body: { status: 'ok', driver: ctx.opts.driver.kind, runsInProgress: ctx.hub.running.size } }), false);
  return [...page, health];
}

/** The whole route table, as the README lists it. */
export function routes(ctx: ServiceContext): Route[] {
  return [...publicRoutes(ctx), ...planRoutes(ctx), ...runRoutes(ctx)];
}

function bearerCheck(tokenSha256: string): (req: IncomingMessage) => boolean {
  const tokenHash = Buffer.from(tokenSha256, 'hex');
  return (req) => {
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are Bearer.
    const m = /^bearer[ \t]+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const presented = Buffer.from(sha256Hex(m[1]!.trim()), 'hex');
    return presented.length === tokenHash.length && timingSafeEqual(presented, tokenHash);
  };
}

function createHandler(ctx: ServiceContext): Parameters<typeof createServer>[1] {
  const table = routes(ctx);
  const authorized = bearerCheck(ctx.opts.tokenSha256);
  const { logger } = ctx;
  return (req, res) => {
    const reqId = randomUUID().slice(0, 8);
    const t0 = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.on('finish', () => {
      logger.info({ reqId, method: req.method, path: url.pathname, status: res.statusCode, ms: Number((process.hrtime.bigint() - t0) / 1_000_000n) }, 'request');
    });
    dispatch(table, { req, res, url }, authorized).catch((e: unknown) => {
      const status = errorStatus(e);
      if (status >= 500) logger.error({ reqId, err: e }, 'request failed');
      if (res.headersSent) {
        // The answer was already under way (an event stream): the client sees it cut short, the log says why.
        if (status < 500) logger.warn({ reqId, err: e }, 'request failed after its answer began');
        res.end();
        return;
      }
      send(res, status, errorBody(e));
    });
  };
}

export async function startService(opts: ServiceOptions, listen: { port: number; host?: string } = { port: 0 }): Promise<RunningService> {
  const ctx = new ServiceContext(opts);
  const server = createServer(createHandler(ctx));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new FerryError('SERVE_LISTEN_FAILED', 'system', `cannot listen on ${listen.host ?? '127.0.0.1'}:${listen.port}: ${e.message}`, { cause: e })));
    server.listen(listen.port, listen.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: async () => {
      await Promise.allSettled([...ctx.hub.running]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
