// Tries the network before serving rows, and answers each row with what it found. The port
// (of a server listening on the host's loopback) is compiled in by the test.
import { lookup } from 'node:dns';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { runHarness } from '../../../sandbox/harness/harness.js';

declare const __HOST_PORT__: number;

function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(5000, () => {
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

function tryLookup(name: string): Promise<string> {
  return new Promise((resolve) => lookup(name, (e, address) => resolve(e ? (e.code ?? e.message) : `resolved ${address}`)));
}

void (async () => {
  const found = {
    interfaces: Object.keys(networkInterfaces()).sort().join(','),
    connect: await tryConnect(__HOST_PORT__),
    lookup: await tryLookup('example.com'),
  };
  await runHarness(() => found);
})();
