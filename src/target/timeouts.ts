import type { Queryable } from '../core/sql.js';
import { InputError } from '../core/errors.js';

/**
 * The limits every write transaction on the target sets for itself (SET LOCAL), so a role's
 * defaults — Supabase gives `anon` 3 s and `authenticated` 8 s, and a database may set 1 ms —
 * neither kill a long batch nor let a stuck one hold its locks forever. Milliseconds; 0 means
 * no limit, as in PostgreSQL.
 */
export interface TransactionTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

/**
 * Documented in the README ("Moving into Supabase"): a batch's COPY of a few thousand wide
 * rows fits well inside 15 minutes; waiting 30 s for a lock means another writer holds the
 * table; a transaction idle for 5 minutes has lost its client.
 */
export const DEFAULT_TRANSACTION_TIMEOUTS: TransactionTimeouts = {
  statementTimeoutMs: 15 * 60_000,
  lockTimeoutMs: 30_000,
  idleInTransactionTimeoutMs: 5 * 60_000,
};

/** The environment variables that override each limit (read once, in src/config.ts). */
export const TIMEOUT_ENV: Record<keyof TransactionTimeouts, string> = {
  statementTimeoutMs: 'FERRY_STATEMENT_TIMEOUT_MS',
  lockTimeoutMs: 'FERRY_LOCK_TIMEOUT_MS',
  idleInTransactionTimeoutMs: 'FERRY_IDLE_IN_TRANSACTION_TIMEOUT_MS',
};

export function parseTimeouts(env: Readonly<Record<string, string | undefined>>): TransactionTimeouts {
  const out = { ...DEFAULT_TRANSACTION_TIMEOUTS };
  for (const key of Object.keys(TIMEOUT_ENV) as Array<keyof TransactionTimeouts>) {
    const name = TIMEOUT_ENV[key];
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw)) || Number(raw) > 2_147_483_647) {
      throw new InputError('CONFIG_INVALID', `${name} must be a whole number of milliseconds (0 = no limit), not "${raw}"`, {
        hint: `unset ${name} to use the default (${DEFAULT_TRANSACTION_TIMEOUTS[key]} ms) or give e.g. ${name}=600000`,
      });
    }
    out[key] = Number(raw);
  }
  return out;
}

/**
 * BEGIN and the three limits for this transaction only, as one simple-query string: with a
 * role default of 1 ms, a separate round trip after BEGIN could itself be cancelled. Each
 * statement of such a string gets its own timer (PostgreSQL 13+), armed with the value the
 * statements before it set. The values are validated integers, never text from outside.
 */
export function beginWriteSql(t: TransactionTimeouts, begin = 'BEGIN'): string {
  return `${begin}; SET LOCAL statement_timeout = ${ms(t.statementTimeoutMs)}; SET LOCAL lock_timeout = ${ms(t.lockTimeoutMs)}; SET LOCAL idle_in_transaction_session_timeout = ${ms(t.idleInTransactionTimeoutMs)}`;
}

function ms(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new InputError('CONFIG_INVALID', `a transaction timeout must be a whole number of milliseconds, not ${n}`);
  return n;
}

// The limits a connection's transactions use, registered when it is opened (openConnections):
// the orchestrator passes clients, not configuration, down to the code that begins transactions.
const registered = new WeakMap<object, TransactionTimeouts>();

export function useTransactionTimeouts(client: object, t: TransactionTimeouts): void {
  registered.set(client, t);
}

export function timeoutsOf(client: object): TransactionTimeouts {
  return registered.get(client) ?? DEFAULT_TRANSACTION_TIMEOUTS;
}

/** Begins a write transaction on the target with the limits registered for this connection. */
export async function beginWrite(db: Queryable, begin = 'BEGIN'): Promise<void> {
  await openingRetried(db, beginWriteSql(timeoutsOf(db), begin));
}

/** How often a transaction's opening string is tried when the role's own short limit cancels it. */
export const OPENING_ATTEMPTS = 5;

/**
 * Runs a string that opens a transaction and sets its own limits first. The first statement
 * of it (BEGIN) still runs under the role's default: with a default of 1 ms, a busy machine
 * can let that timer fire before the SET LOCAL takes over. Nothing has been done then (the
 * string is aborted as a whole), so it is rolled back and tried again, a few times. PostgreSQL
 * may report that very timer as "canceling statement due to user request" when the statement
 * ended between the timer firing and the check, so any 57014 is retried; other errors are not.
 */
export async function openingRetried<R>(db: Queryable, sql: string): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await db.query(sql)) as unknown as R;
    } catch (e) {
      const err = e as { code?: string };
      if (err.code !== '57014' || attempt >= OPENING_ATTEMPTS) throw e;
      await db.query('ROLLBACK').catch(() => undefined);
    }
  }
}
