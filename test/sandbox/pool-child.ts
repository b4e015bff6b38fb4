// A ferry that makes a warm pool and then dies without cleaning up (the test SIGKILLs it).
import { DockerDriver } from '../../sandbox/docker-driver.js';
import { SandboxPool } from '../../sandbox/pool.js';
import { policy } from './helpers.js';

const pool = new SandboxPool(new DockerDriver({ reapOnStart: false }), {
  size: 1,
  policy: policy(),
  idleTimeoutMs: 120_000,
  labels: { 'ferry.test': 'pool-orphan' },
  logger: { warn: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`) },
});
pool.fill();
await pool.settled();
process.stdout.write(`${JSON.stringify(pool.stats())}\n`);
// Wait to be killed.
setInterval(() => undefined, 60_000);
