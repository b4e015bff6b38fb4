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
 * pg, imported at the first connection: its load reaches Node's fetch stack (a few hundred
 * ms), which commands that never connect (`ferry show`, `--help`) must not pay.
 */
let pgModule: Promise<typeof pg> | undefined;
const loadPg = (): Promise<typeof pg> => (pgModule ??= import('pg').then((m) => m.default));

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
  return client;
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
