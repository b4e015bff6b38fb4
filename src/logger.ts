import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type { Logger };

const require = createRequire(import.meta.url);
/** pino, required when the first logger is made: `ferry --help` and `show` log nothing and skip its load. */
const loadPino = (): typeof import('pino') => require('pino') as typeof import('pino');

/**
 * Structured logs go to stderr as JSON (FERRY_LOG_LEVEL, default `warn` for the CLI so a
 * person's terminal shows the readable progress lines, not the log). Progress for people is
 * printed separately by the CLI's reporter.
 */
export function createLogger(level: string = 'warn', destination: number = 2): Logger {
  const { pino } = loadPino();
  return pino({ level, base: { app: 'ferry' } }, pino.destination({ fd: destination, sync: true }));
}

/** Whether a logger at `level` writes info lines (pino's levels; an unknown name is left to pino: true). */
export function logsInfo(level: string): boolean {
  return !['warn', 'error', 'fatal', 'silent'].includes(level);
}

let silent: Logger | undefined;
const silentInstance = (): Logger => (silent ??= loadPino().pino({ level: 'silent' }));

/** A logger that writes nothing; made on first use (see loadPino). */
export const silentLogger: Logger = new Proxy({} as Logger, {
  get(_target, key) {
    const logger = silentInstance();
    const value: unknown = Reflect.get(logger, key, logger);
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(logger) : value;
  },
  set: (_target, key, value) => Reflect.set(silentInstance(), key, value),
});
