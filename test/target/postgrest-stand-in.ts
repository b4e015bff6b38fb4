import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

/**
 * A stand-in for Supabase's Data API (PostgREST behind its gateway), loopback only, for the
 * few requests supabase-js makes when ferry reads the app's view: GET and HEAD on
 * /rest/v1/<table> with select=, eq./in. filters, limit/offset or a Range header, and
 * Prefer: count=exact. Like PostgREST it checks the apikey and the JWT in Authorization
 * (HS256, the project's secret), then runs the query in one read-only transaction as the
 * token's role: request.jwt.claims set for the transaction, SET LOCAL ROLE, rolled back. The
 * body is json_agg of the rows — PostgREST's own encoding (numeric as a JSON number, timestamps
 * in ISO form, json embedded) — so what supabase-js parses here is what it parses there.
 */

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** An HS256 JWT, as Supabase signs its keys and access tokens. */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

export function verifyJwt(token: string, secret: string): Record<string, unknown> | null {
  const [h, p, sig] = token.split('.');
  if (!h || !p || !sig) return null;
  const want = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
    if (header.alg !== 'HS256') return null;
    return JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export interface StandInRequest {
  method: string;
  /** The path and query as sent (its length is what proxies limit). */
  url: string;
  role: string | null;
  status: number;
}

export interface PostgrestStandIn {
  url: string;
  requests: StandInRequest[];
  close(): Promise<void>;
}

const q = (id: string) => `"${id.replace(/"/g, '""')}"`;

/** PostgREST's in.(…) list: comma-separated, a value in double quotes may hold , ( ) and \-escaped quotes. */
export function parseInList(raw: string): string[] | null {
  if (!raw.startsWith('(') || !raw.endsWith(')')) return null;
  const body = raw.slice(1, -1);
  const out: string[] = [];
  let i = 0;
  while (i <= body.length) {
    if (body[i] === '"') {
      let v = '';
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\' && i + 1 < body.length) i++;
        v += body[i++];
      }
      out.push(v);
      i += 2; // closing quote and comma
    } else {
      const end = body.indexOf(',', i);
      out.push(body.slice(i, end < 0 ? body.length : end));
      i = end < 0 ? body.length + 1 : end + 1;
    }
  }
  return out;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

function claimsOf(req: IncomingMessage, secret: string): Record<string, unknown> {
  const apikey = req.headers.apikey;
  // The gateway in front of PostgREST wants a project key first.
  if (typeof apikey !== 'string' || !verifyJwt(apikey, secret)) throw new HttpError(401, { message: 'Invalid API key', hint: 'Double check your Supabase `anon` or `service_role` API key.' });
  const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
  const claims = verifyJwt(m ? m[1]! : apikey, secret);
  if (!claims) throw new HttpError(401, { code: 'PGRST301', message: 'JWT could not be decoded', details: null, hint: null });
  if (typeof claims.role !== 'string') throw new HttpError(401, { code: 'PGRST301', message: 'JWT has no role claim', details: null, hint: null });
  return claims;
}

interface Query {
  schema: string;
  table: string;
  columns: string;
  where: string[];
  params: unknown[];
  limit: number | null;
  offset: number;
}

function parseQuery(req: IncomingMessage, schemas: readonly string[]): Query {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const m = /^\/rest\/v1\/([^/]+)$/.exec(url.pathname);
  if (!m) throw new HttpError(404, { message: `no route ${url.pathname}` });
  const schema = (req.headers['accept-profile'] as string | undefined) ?? schemas[0]!;
  if (!schemas.includes(schema)) throw new HttpError(406, { code: 'PGRST106', message: `The schema must be one of the following: ${schemas.join(', ')}`, details: null, hint: null });
  const query: Query = { schema, table: decodeURIComponent(m[1]!), columns: '*', where: [], params: [], limit: null, offset: 0 };
  for (const [key, value] of url.searchParams) {
    if (key === 'select') query.columns = value === '*' ? '*' : value.split(',').map((c) => q(c.trim())).join(', ');
    else if (key === 'limit') query.limit = Number(value);
    else if (key === 'offset') query.offset = Number(value);
    else if (value.startsWith('eq.')) query.where.push(`${q(key)} = $${query.params.push(value.slice(3))}`);
    else if (value.startsWith('in.')) {
      const list = parseInList(value.slice(3));
      if (!list) throw new HttpError(400, { code: 'PGRST100', message: `"failed to parse filter (${value})"`, details: null, hint: null });
      query.where.push(`${q(key)} = ANY($${query.params.push(list)})`);
    } else throw new HttpError(400, { code: 'PGRST100', message: `the stand-in does not know the filter ${key}=${value}`, details: null, hint: null });
  }
  const range = /^(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
  if (range) {
    query.offset = Number(range[1]);
    if (range[2]) query.limit = Number(range[2]) - query.offset + 1;
  }
  return query;
}

/** The status PostgREST gives a PostgreSQL error. */
function statusOf(code: string | undefined, role: string): number {
  if (code === '42501') return role === 'anon' ? 401 : 403;
  if (code === '42P01') return 404;
  if (code === '42703' || code === '22P02' || code === '42883') return 400;
  return 500;
}

async function answer(pool: pg.Pool, req: IncomingMessage, res: ServerResponse, q0: Query, claims: Record<string, unknown>): Promise<number> {
  const role = claims.role as string;
  const where = q0.where.length ? ` WHERE ${q0.where.join(' AND ')}` : '';
  const from = `${q(q0.schema)}.${q(q0.table)}${where}`;
  const page = `${q0.limit === null ? '' : ` LIMIT ${q0.limit}`} OFFSET ${q0.offset}`;
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY');
    // As PostgREST: the claims as transaction settings (auth.uid() reads them), then the role.
    await client.query(`SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)`, [JSON.stringify(claims), role]);
    const rows = await client.query<{ body: string; n: string }>(`SELECT coalesce(json_agg(_t), '[]')::text AS body, count(_t) AS n FROM (SELECT ${q0.columns} FROM ${from}${page}) _t`, q0.params);
    const wantsCount = /count=exact/.test(String(req.headers.prefer ?? ''));
    const total = wantsCount ? Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, q0.params)).rows[0]!.n) : null;
    const n = Number(rows.rows[0]!.n);
    const span = n ? `${q0.offset}-${q0.offset + n - 1}` : '*';
    const status = total !== null && n < total - q0.offset && (q0.limit !== null || q0.offset > 0) ? 206 : 200;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-range': `${span}/${total ?? '*'}` });
    res.end(req.method === 'HEAD' ? undefined : rows.rows[0]!.body);
    return status;
  } catch (e) {
    const err = e as { code?: string; message: string; detail?: string; hint?: string };
    throw new HttpError(statusOf(err.code, role), { code: err.code ?? null, message: err.message, details: err.detail ?? null, hint: err.hint ?? null });
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/** Starts the stand-in on 127.0.0.1 over the database at `dbUrl`; `schemas` are the exposed ones, the first the default. */
export async function startPostgrestStandIn(opts: { dbUrl: string; jwtSecret: string; schemas?: string[] }): Promise<PostgrestStandIn> {
  const pool = new pg.Pool({ connectionString: opts.dbUrl, max: 4 });
  const schemas = opts.schemas ?? ['public'];
  const requests: StandInRequest[] = [];
  const server = createServer((req, res) => {
    let role: string | null = null;
    const done = (status: number) => requests.push({ method: req.method ?? '', url: req.url ?? '', role, status });
    (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, { message: `the stand-in answers GET and HEAD, not ${req.method}` });
      const claims = claimsOf(req, opts.jwtSecret);
      role = claims.role as string;
      done(await answer(pool, req, res, parseQuery(req, schemas), claims));
    })().catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      done(status);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(e instanceof HttpError ? e.body : { message: (e as Error).message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
