import { openConnections, type ConnectionOptions, type Connections } from '../chain.js';
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
