// Tries every way out it can think of; reports each attempt's error code. The database port
// (of the embedded PostgreSQL on the host's loopback) is compiled in by the test.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { runHarness } from '../../../../sandbox/harness/harness.js';
import { tryConnect, tryLookup } from '../attempts.js';

declare const __DB_PORT__: number;

function routes(): string[] {
  // Header line dropped: what is left are the routes out (none with network mode none).
  return readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
}

void (async () => {
  const found = {
    interfaces: Object.keys(networkInterfaces()).sort().join(','),
    routes: routes(),
    database: await tryConnect({ host: '127.0.0.1', port: __DB_PORT__ }),
    dockerSocket: await tryConnect({ path: '/var/run/docker.sock' }),
    runDockerSocket: await tryConnect({ path: '/run/docker.sock' }),
    postgresSocket: await tryConnect({ path: `/tmp/.s.PGSQL.${__DB_PORT__}` }),
    dns: await tryLookup('example.com'),
    metadata: await tryConnect({ host: '169.254.169.254', port: 80 }),
    publicAddress: await tryConnect({ host: '1.1.1.1', port: 443 }),
  };
  await runHarness(() => found);
})();
