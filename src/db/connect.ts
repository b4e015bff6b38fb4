import { createRequire } from 'node:module';
import type pg from 'pg';
import { DatabaseError } from '../core/errors.js';
import { tlsHint, withLibpqTls, type TlsOptions } from './tls.js';

/** Type OIDs whose text form ferry keeps as it is: no Date objects, no timezone drift. */
const KEEP_AS_TEXT = [1082, 1083, 1114, 1184, 1266, 17];
/**
 * json (114) and jsonb (3802) on the source: their text, never JSON.parse's object, so 1.10,
 * integers beyond 2^53, -0 and json's own key order, duplicate keys and whitespace cross the
 * sandbox and reach COPY exactly. Only the source: ferry's own jsonb (plans, sandbox reports
 * in the run store and control tables) is read as objects on the other connections.
 */
const JSON_TYPES = [114, 3802];

/**
 * pg, loaded at the first connection, which commands that never connect (`ferry show`,
 * `--help`) must not pay. Its load asks whether it runs in a Cloudflare Worker: with no
 * global `navigator` (Node 20) it builds a `Response`, which loads Node's whole fetch stack
 * (undici: 40–300 ms of CPU, every run) for an answer Node's own `navigator` gives (Node 21+
 * has one: `Node.js/21`). So for Node 20 a `navigator` saying the same stands in while pg's
 * module runs, synchronously (nothing else can see it), and is removed after.
 */
let pgModule: Promise<typeof pg> | undefined;
const loadPg = (): Promise<typeof pg> => (pgModule ??= Promise.resolve().then(requirePg));

function requirePg(): typeof pg {
  const require = createRequire(import.meta.url);
  const g = globalThis as { navigator?: unknown };
  if (g.navigator !== undefined) return require('pg') as typeof pg;
  g.navigator = { userAgent: `Node.js/${process.versions.node.split('.')[0]}` };
  try {
    return require('pg') as typeof pg;
  } finally {
    delete g.navigator;
  }
}

function typeParsers(pgTypes: typeof pg.types, jsonAsText: boolean) {
  return {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (KEEP_AS_TEXT.includes(oid) || (jsonAsText && JSON_TYPES.includes(oid))) return (v: string) => v;
      return pgTypes.getTypeParser(oid, format);
    },
  };
}

/**
 * A connected client. Errors say which database (by role, never by password) could not be
 * reached and what to check.
 */
export async function connect(url: string, role: 'source' | 'target' | 'state', applicationName = 'ferry', tls: TlsOptions = {}): Promise<pg.Client> {
  const variable = role === 'source' ? 'SOURCE_DATABASE_URL' : role === 'state' ? 'FERRY_STATE_URL' : 'TARGET_DATABASE_URL';
  const { Client, types } = await loadPg();
  let client: pg.Client | undefined;
  try {
    // sslmode as libpq reads it (src/db/tls.ts); pg reads a sslrootcert file while parsing.
    client = new Client({ connectionString: withLibpqTls(url, tls), application_name: applicationName, types: typeParsers(types, role === 'source') });
    await client.connect();
  } catch (cause) {
    await client?.end().catch(() => undefined);
    const tlsFix = tlsHint(cause, url, variable);
    throw new DatabaseError(tlsFix ? 'DB_TLS_FAILED' : 'DB_CONNECT_FAILED', `could not connect to the ${role === 'state' ? 'run store' : role} database (${redactUrl(url)}): ${(cause as Error).message}`, {
      cause,
      hint: tlsFix ?? `check ${variable} (host, port, database, user, password) and that the server is running`,
    });
  }
  // A client whose server goes away must not crash the process; the next query fails instead.
  client.on('error', () => undefined);
  countRoundTrips(client, applicationName);
  return client;
}

/** Queries sent per application name (ferry-source, ferry-target, ferry-store…) by this process. */
const roundTrips: Record<string, number> = {};

/** Each query (a multi-statement string or a COPY too) is one loopback or network round trip: counted for `ferry run`'s phase log. */
function countRoundTrips(client: pg.Client, name: string): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    roundTrips[name] = (roundTrips[name] ?? 0) + 1;
    return query(...args);
  };
}

/** The queries this process has sent so far, per application name. */
export function roundTripCounts(): Readonly<Record<string, number>> {
  return { ...roundTrips };
}

/** URL parameters libpq and pg read as secrets. */
const SECRET_PARAMS = ['password', 'sslpassword'];

/**
 * A connection string fit to print or log: the userinfo password and the `password` /
 * `sslpassword` parameters (which pg honours too) become `***`. Everything that prints or
 * logs a database URL goes through this one function. A string the URL parser rejects is
 * still scrubbed by pattern, so its host and database stay readable for the person fixing it.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of [...u.searchParams.keys()]) {
      if (SECRET_PARAMS.includes(name.toLowerCase())) u.searchParams.set(name, '***');
    }
    // URLSearchParams encodes the stars; they are kept readable.
    return u.toString().replace(/%2A%2A%2A/g, '***');
  } catch {
    return url
      .replace(/(\b(?:ssl)?password\s*=\s*)('[^']*'|[^&\s]*)/gi, '$1***')
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^@/?#\s]*@/i, '$1***@');
  }
}
