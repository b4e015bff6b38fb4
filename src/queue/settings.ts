import { InputError } from '../core/errors.js';

/**
 * The queue's timings, read once from the environment by the CLI (ferry run --queue, ferry
 * worker) and passed down.
 *
 * | variable                    | meaning                                                   | default |
 * |-----------------------------|-----------------------------------------------------------|---------|
 * | FERRY_QUEUE_LEASE_MS        | a worker whose heartbeat is older than this is lost: its partitions go to other workers | 60000 |
 * | FERRY_QUEUE_RETRY_LIMIT     | retries of a partition after a lost worker or a lost connection (not a data failure) | 5 |
 * | FERRY_QUEUE_RETRY_DELAY_S   | seconds before such a retry is claimed                    | 5       |
 */
export interface QueueSettings {
  leaseMs: number;
  /** Heartbeats per lease: a quarter of it, so one late beat never loses a worker. */
  heartbeatMs: number;
  retryLimit: number;
  retryDelaySeconds: number;
  /** How often an idle worker asks for a job (pg-boss's minimum is 0.5 s). */
  pollingSeconds: number;
}

export function queueSettings(env: NodeJS.ProcessEnv): QueueSettings {
  const leaseMs = intSetting(env, 'FERRY_QUEUE_LEASE_MS', 60_000, 2_000);
  return {
    leaseMs,
    heartbeatMs: Math.floor(leaseMs / 4),
    retryLimit: intSetting(env, 'FERRY_QUEUE_RETRY_LIMIT', 5, 0),
    retryDelaySeconds: intSetting(env, 'FERRY_QUEUE_RETRY_DELAY_S', 5, 0),
    pollingSeconds: 0.5,
  };
}

function intSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InputError('CONFIG_INVALID', `${name} must be a whole number of at least ${min}, not ${JSON.stringify(raw)}`, { hint: `unset it for the default (${fallback})` });
  }
  return n;
}
