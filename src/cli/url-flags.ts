import type { FerryConfig } from '../config.js';
import type { FlagSpecs } from './args.js';

/** The database URL flags; each overrides its environment variable. */
export const URL_FLAGS = {
  source: { type: 'string', value: '<url>', help: 'the legacy database (default SOURCE_DATABASE_URL)' },
  target: { type: 'string', value: '<url>', help: 'the new database (default TARGET_DATABASE_URL)' },
} as const satisfies FlagSpecs;

export const WEAK_SANDBOX_FLAG = {
  'allow-weak-sandbox': { type: 'boolean', help: 'run in the weaker local sandbox when Docker is not usable (said out loud)' },
} as const satisfies FlagSpecs;

export function withUrls(config: FerryConfig, v: { source?: string | undefined; target?: string | undefined }): FerryConfig {
  return { ...config, sourceUrl: v.source ?? config.sourceUrl, targetUrl: v.target ?? config.targetUrl };
}

