import type pg from 'pg';
import { openConnections, type ConnectionOptions, type Connections } from '../chain.js';
import type { Queryable } from '../core/sql.js';
import { connect } from '../db/connect.js';
import { queueViewOf, type QueueView } from '../queue/show.js';
import type { GeneratedScript } from '../core/artifacts/generated-script.js';
import { PlanError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import type { PlanVersionRow, RunStore } from '../store/run-store.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import type { DataApiSettings } from '../target/data-api.js';
import { LruCache } from './lru.js';
import { RunHub } from './run-hub.js';

export interface ServiceOptions {
  store: RunStore;
  sourceUrl: string;
  targetUrl: string;
  /** The accepted token's sha256 (the token itself need not be kept anywhere). */
  tokenSha256: string;
  logger: Logger;
  /** Where programs and bundles of runs are written. */
  home: string;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  /**
   * TLS (PGSSLROOTCERT) and the write transactions' limits, as the CLI opens its connections
   * (config.ts connectionOptions); every connection the service opens goes through openConnections below.
   */
  connection?: ConnectionOptions;
  /** SUPABASE_URL and keys (config.dataApi): a run's app-visibility section also reads through the Data API. */
  dataApi?: DataApiSettings | undefined;
  /** The run store's database, where ferry_queue lives (FERRY_STATE_URL); default targetUrl. */
  stateUrl?: string;
  /** FERRY_QUEUE_LEASE_MS as read at the edge: a worker silent longer is shown stale (default 60000). */
  queueLeaseMs?: number;
}

/**
 * Generated programs kept by plan hash for `GET …/program`. Generation is deterministic, so
 * this only saves work; 64 covers every plan a person reviews in a sitting (a program with its
 * bundle is tens of kilobytes) while a long-lived service stays bounded.
 */
export const PROGRAM_CACHE_SIZE = 64;

/** What every route handler works with: the options, the live runs, the program cache. */
export class ServiceContext {
  readonly hub = new RunHub();
  readonly programs = new LruCache<string, GeneratedScript>(PROGRAM_CACHE_SIZE);

  constructor(readonly opts: ServiceOptions) {}

  get store(): RunStore {
    return this.opts.store;
  }
  get logger(): Logger {
    return this.opts.logger;
  }

  /** Both databases with the service's connection options: the one way the service opens them. */
  openConnections(): Promise<Connections> {
    return openConnections(this.opts.sourceUrl, this.opts.targetUrl, this.opts.connection ?? {});
  }

  /**
   * A queued run's workers, ranges and tally for a run of the store (null when it was not
   * queued): the state database on a connection of its own, the target read for the tally.
   */
  async queueView(runId: number, target?: Queryable): Promise<QueueView | null> {
    const state = await this.stateConnection();
    try {
      return await this.queueViewOn(state, runId, target);
    } finally {
      await state.end().catch(() => undefined);
    }
  }

  /** The same, over a state connection the caller holds (a stream polls it every second). */
  async queueViewOn(state: pg.Client, runId: number, target?: Queryable): Promise<QueueView | null> {
    const leaseMs = this.opts.queueLeaseMs ?? 60_000;
    if (target) return queueViewOf(state, runId, target, leaseMs);
    const stateIsTarget = (this.opts.stateUrl ?? this.opts.targetUrl) === this.opts.targetUrl;
    if (stateIsTarget) return queueViewOf(state, runId, state, leaseMs);
    const own = await connect(this.opts.targetUrl, 'target', 'ferry-serve-queue', this.opts.connection?.tls ?? {});
    try {
      return await queueViewOf(state, runId, own, leaseMs);
    } finally {
      await own.end().catch(() => undefined);
    }
  }

  stateConnection(): Promise<pg.Client> {
    const url = this.opts.stateUrl ?? this.opts.targetUrl;
    return connect(url, url === this.opts.targetUrl ? 'target' : 'state', 'ferry-serve-queue', this.opts.connection?.tls ?? {});
  }

  async withConnections<T>(fn: (conn: Connections) => Promise<T>): Promise<T> {
    const conn = await this.openConnections();
    try {
      return await fn(conn);
    } finally {
      await conn.close();
    }
  }

  /** The plan's latest version, which must be `revision`: a decision on an older one is refused. */
  async latestOrStale(planId: string, revision: number): Promise<PlanVersionRow> {
    const latest = await this.store.getPlan(planId);
    if (latest.revision !== revision) {
      throw new PlanError('PLAN_REVISION_STALE', `plan ${planId} is at revision ${latest.revision}, not ${revision}`, { hint: 'reload the plan and decide on its latest revision' });
    }
    return latest;
  }
}
