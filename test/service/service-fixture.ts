import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logger.js';
import { sha256Hex, startService, type RunningService } from '../../src/service/server.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';

export const TOKEN = 'test-token-0123456789';

/** A service on real PostgreSQL and Docker, with one role no rule covers (so review has work). */
export async function startTestService(): Promise<{ seed: SeedCase; store: RunStore; service: RunningService; home: string; stop(): Promise<void> }> {
  const driver = await dockerDriverForTests();
  const seed = await createSeedCase();
  await seed.sql('legacy', `INSERT INTO dispatch_role (name, abbrev, group_id) VALUES ('Night Floater', 'NF', 11)`);
  const home = await mkdtemp(join(tmpdir(), 'ferry-api-'));
  const store = await RunStore.open(seed.target.url);
  const service = await startService({
    store,
    sourceUrl: seed.legacy.url,
    targetUrl: seed.target.url,
    tokenSha256: sha256Hex(TOKEN),
    logger: silentLogger,
    home,
    driver,
    policy: defaultPolicy,
  });
  return {
    seed,
    store,
    service,
    home,
    stop: async () => {
      await service.close();
      await store.close();
      await seed.drop();
      await rm(home, { recursive: true, force: true });
    },
  };
}
