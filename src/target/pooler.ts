import type pg from 'pg';
import { randomBytes } from 'node:crypto';
import { DatabaseError } from '../core/errors.js';
import { connect, redactUrl } from '../db/connect.js';
import { openingRetried } from './timeouts.js';
import type { TlsOptions } from '../db/tls.js';

/**
 * ferry needs a session of its own on the target: an advisory lock held across a run, SET
 * LOCAL per transaction, one connection per worker. A transaction-mode pooler (Supabase's
 * Supavisor on port 6543, PgBouncer with pool_mode=transaction) hands each transaction to
 * whichever server connection is free, so none of that holds. It is refused before anything
 * is written, with the URL to use instead.
 */
export class TransactionPoolerError extends DatabaseError {
  constructor(message: string, options: { hint: string; details?: Record<string, unknown>; cause?: unknown }, code: PoolerCheck['code'] = 'TARGET_TRANSACTION_POOLER') {
    super(code, message, options);
  }
}

/** Which connection is checked: the target's, or the run store's (FERRY_STATE_URL), each refused with its own code. */
export interface PoolerCheck {
  /** Named in the message: "the target", "the run store (FERRY_STATE_URL)". */
  name: string;
  code: 'TARGET_TRANSACTION_POOLER' | 'STATE_TRANSACTION_POOLER';
}

export const TARGET_CHECK: PoolerCheck = { name: 'the target', code: 'TARGET_TRANSACTION_POOLER' };
export const STATE_CHECK: PoolerCheck = { name: 'the run store (FERRY_STATE_URL)', code: 'STATE_TRANSACTION_POOLER' };

/** Supabase's pooler hosts: aws-0-<region>.pooler.supabase.com and the like. */
const SUPABASE_POOLER_HOST = /(^|\.)pooler\.supabase\.com$/i;
/** Supabase's transaction-mode port (Supavisor; the older PgBouncer on db.<ref>.supabase.co too). */
const TRANSACTION_POOLER_PORT = '6543';

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** The same URL on the session port 5432: the session pooler on a pooler host, else the direct connection. */
export function sessionUrlFor(url: string): string {
  const u = parse(url);
  if (!u) return url;
  u.port = '5432';
  return redactUrl(u.toString());
}

/** What the URL alone says: a Supabase pooler host, or any host, on port 6543. */
export function transactionPoolerByUrl(url: string): { reason: string } | null {
  const u = parse(url);
  if (!u || u.port !== TRANSACTION_POOLER_PORT) return null;
  return SUPABASE_POOLER_HOST.test(u.hostname)
    ? { reason: `${u.hostname}:6543 is Supabase's transaction-mode pooler` }
    : { reason: 'port 6543 is the transaction-mode pooler port of Supabase (Supavisor, PgBouncer)' };
}

function hintFor(url: string): string {
  const u = parse(url);
  const session = sessionUrlFor(url);
  if (u && SUPABASE_POOLER_HOST.test(u.hostname)) {
    return `use the session pooler, the same URL on port 5432 (${session}), with the user postgres.<project-ref>; or the direct connection postgres://postgres:<password>@db.<project-ref>.supabase.co:5432/postgres`;
  }
  return `use a connection that keeps a session: the direct connection to the database, or a session-mode pooler (Supabase: port 5432, e.g. ${session})`;
}

/** Refuses a URL that names a transaction-mode pooler, before any connection is opened. */
export function assertNotTransactionPoolerUrl(url: string, check: PoolerCheck = TARGET_CHECK): void {
  const byUrl = transactionPoolerByUrl(url);
  if (byUrl) {
    throw new TransactionPoolerError(
      `${check.name} URL (${redactUrl(url)}) goes through a transaction-mode pooler: ${byUrl.reason}; ferry needs a session (advisory locks, per-transaction settings) and writes nothing through it`,
      { hint: hintFor(url), details: { detectedBy: 'url' } },
      check.code,
    );
  }
}

/**
 * What the connection does: a setting made in one transaction must still be there in the
 * next, on the same server process. While a second client holds a transaction open, this
 * client reads its setting and its server pid back. Under a transaction-mode pooler, the
 * second client is given this client's server connection (it was free between
 * transactions), or this client's next transaction lands on another one without the
 * setting. A session — direct, or a session-mode pooler — keeps both.
 */
export async function probeSession(client: pg.Client, url: string, tls: TlsOptions = {}): Promise<{ keeps: true } | { keeps: false; observed: string }> {
  const token = randomBytes(8).toString('hex');
  // The second client connects while the first sets its value: a connection takes no server
  // connection from a pooler until its first transaction, which comes after the COMMIT below.
  const connecting = connect(url, 'target', 'ferry-session-probe', tls);
  connecting.catch(() => undefined);
  let first: { pid: number };
  try {
    // Each step is one simple-query string with its own statement_timeout: a role default of
    // 1 ms must not cancel the check (the token is hex, safe to inline).
    first = await selectInTransaction<{ pid: number }>(client, `SELECT pg_backend_pid() AS pid, set_config('ferry.session_probe', '${token}', false)`, 'COMMIT');
  } catch (e) {
    await connecting.then((c) => c.end()).catch(() => undefined);
    throw e;
  }
  const pid = first.pid;
  const other = await connecting;
  try {
    const held = (await selectInTransaction<{ pid: number }>(other, 'SELECT pg_backend_pid() AS pid', null)).pid;
    if (held === pid) {
      return { keeps: false, observed: `a second client was given this client's server connection (pid ${pid}) between its transactions` };
    }
    const row = await selectInTransaction<{ pid: number; v: string | null }>(client, `SELECT pg_backend_pid() AS pid, current_setting('ferry.session_probe', true) AS v`, 'COMMIT');
    if (row.v !== token || row.pid !== pid) {
      return { keeps: false, observed: `a setting made in one transaction was gone in the next (server pid ${pid}, then ${row.pid})` };
    }
    return { keeps: true };
  } finally {
    await other.query('ROLLBACK').catch(() => undefined);
    await other.end().catch(() => undefined);
    await client.query(`BEGIN; SET LOCAL statement_timeout = 0; SELECT set_config('ferry.session_probe', '', false); COMMIT`).catch(() => undefined);
  }
}

/** BEGIN, no statement limit for this transaction, the select, then `end` (or stay open): the select's row. */
async function selectInTransaction<R>(client: pg.Client, select: string, end: 'COMMIT' | null): Promise<R> {
  const results = await openingRetried<pg.QueryResult[]>(client, `BEGIN; SET LOCAL statement_timeout = 0; ${select}${end ? `; ${end}` : ''}`);
  return results[2]!.rows[0] as R;
}

/** URLs (with their TLS settings) this process has seen keep a session. */
const keepsSession = new Set<string>();
/** Probes under way, by the same key: whether the connection kept its session. */
const probing = new Map<string, Promise<boolean>>();

/**
 * The target connection keeps a session, by its URL and by what it does, or
 * TARGET_TRANSACTION_POOLER. Runs before anything is written (openConnections calls it).
 */
export async function assertSessionConnection(client: pg.Client, url: string, tls: TlsOptions = {}, check: PoolerCheck = TARGET_CHECK): Promise<void> {
  assertNotTransactionPoolerUrl(url, check);
  // What answers at a URL keeps sessions or not; once seen to keep them, this process does not
  // probe it again (ferry run opened the same target for its run store and its rows: a
  // connection and three round trips each time). A refusal is never remembered.
  const seen = JSON.stringify([url, tls.sslRootCert ?? null]);
  if (keepsSession.has(seen)) return;
  // A probe of the same URL under way (the run store's, while the run's own connections open
  // beside it) answers this one too when it finds a session; otherwise this client is probed itself.
  const underWay = probing.get(seen);
  if (underWay && (await underWay.catch(() => false))) return;
  const probed = probeSession(client, url, tls);
  const keeps = probed.then((p) => p.keeps);
  keeps.catch(() => undefined);
  probing.set(seen, keeps);
  let probe: Awaited<typeof probed>;
  try {
    probe = await probed;
  } finally {
    if (probing.get(seen) === keeps) probing.delete(seen);
  }
  if (probe.keeps) keepsSession.add(seen);
  if (!probe.keeps) {
    throw new TransactionPoolerError(
      `${check.name} connection (${redactUrl(url)}) does not keep a session: ${probe.observed}. That is a transaction-mode pooler; ferry needs a session (advisory locks, per-transaction settings) and writes nothing through it`,
      { hint: hintFor(url), details: { detectedBy: 'behaviour' } },
      check.code,
    );
  }
}
