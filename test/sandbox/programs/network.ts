// Tries the network before serving rows, and answers each row with what it found. The port
// (of a server listening on the host's loopback) is compiled in by the test.
import { networkInterfaces } from 'node:os';
import { runHarness } from '../../../sandbox/harness/harness.js';
import { tryConnect, tryLookup } from './attempts.js';

declare const __HOST_PORT__: number;

void (async () => {
  const found = {
    interfaces: Object.keys(networkInterfaces()).sort().join(','),
    connect: await tryConnect({ host: '127.0.0.1', port: __HOST_PORT__ }, 5000),
    lookup: await tryLookup('example.com'),
  };
  await runHarness(() => found);
})();
