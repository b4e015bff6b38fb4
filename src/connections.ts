/**
 * Both databases a run (or a plan) works on, opened side by side, the target checked to keep a
 * session and given its write timeouts.
 */
import type pg from 'pg';
import { connect } from './db/connect.js';
import type { TlsOptions } from './db/tls.js';
import { assertNotTransactionPoolerUrl, assertSessionConnection } from './target/pooler.js';
import { DEFAULT_TRANSACTION_TIMEOUTS, useTransactionTimeouts, type TransactionTimeouts } from './target/timeouts.js';

export interface Connections {
  source: pg.Client;
  target: pg.Client;
  close(): Promise<void>;
  /** Another pair to the same databases (a parallel run's workers each get one). */
  reopen(): Promise<Connections>;
}

export interface ConnectionOptions {
  /** The limits each write transaction on the target sets (default DEFAULT_TRANSACTION_TIMEOUTS). */
  timeouts?: TransactionTimeouts;
  /** PGSSLROOTCERT, for URLs whose sslmode verifies (src/db/tls.ts). */
  tls?: TlsOptions;
}

/**
 * Both databases. The target must keep a session (TARGET_TRANSACTION_POOLER otherwise),
 * checked here, before any step can write.
 */
export async function openConnections(sourceUrl: string, targetUrl: string, options: ConnectionOptions = {}): Promise<Connections> {
  // A transaction pooler named by the URL is refused before either database is opened.
  assertNotTransactionPoolerUrl(targetUrl);
  const tls = options.tls ?? {};
  // Both at once: each is a round trip or more to its server, and neither waits on the other.
  const [opened, openedTarget] = await Promise.allSettled([connect(sourceUrl, 'source', 'ferry-source', tls), connect(targetUrl, 'target', 'ferry-target', tls)]);
  if (opened.status === 'rejected' || openedTarget.status === 'rejected') {
    await Promise.allSettled([opened, openedTarget].flatMap((o) => (o.status === 'fulfilled' ? [o.value.end()] : [])));
    // The source's failure first, as when they were opened one after the other.
    throw opened.status === 'rejected' ? opened.reason : (openedTarget as PromiseRejectedResult).reason;
  }
  const source = opened.value;
  const target = openedTarget.value;
  try {
    await assertSessionConnection(target, targetUrl, tls);
  } catch (e) {
    await Promise.allSettled([source.end(), target.end()]);
    throw e;
  }
  useTransactionTimeouts(target, options.timeouts ?? DEFAULT_TRANSACTION_TIMEOUTS);
  return {
    source,
    target,
    close: async () => {
      await Promise.allSettled([source.end(), target.end()]);
    },
    reopen: () => openConnections(sourceUrl, targetUrl, options),
  };
}
