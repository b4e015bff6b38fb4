// What the hostile test programs share: try something, report the error code it met.
import { lookup } from 'node:dns';
import { connect } from 'node:net';

/** 'allowed', or the error code (else message) the attempt threw. */
export function attempt(fn: () => unknown): string {
  try {
    fn();
    return 'allowed';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

/** 'connected', 'timeout', or the error code of connecting to a TCP address or a unix socket. */
export function tryConnect(target: { host: string; port: number } | { path: string }, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(target);
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** 'resolved <address>', or the error code of a DNS lookup. */
export function tryLookup(name: string): Promise<string> {
  return new Promise((resolve) => lookup(name, (e, address) => resolve(e ? (e.code ?? e.message) : `resolved ${address}`)));
}
