import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs go to stderr as JSON (FERRY_LOG_LEVEL, default `warn` for the CLI so a
 * person's terminal shows the readable progress lines, not the log). Progress for people is
 * printed separately by the CLI's reporter.
 */
export function createLogger(level: string = 'warn', destination: number = 2): Logger {
  return pino({ level, base: { app: 'ferry' } }, pino.destination({ fd: destination, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
