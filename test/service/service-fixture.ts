import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logger.js';
import { sha256Hex, startService, type RunningService } from '../../src/service/server.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { signJwt, startPostgrestStandIn, type PostgrestStandIn } from '../target/postgrest-stand-in.js';

export const TOKEN = 'test-token-0123456789';

/**
 * A service on real PostgreSQL and Docker, with one role no rule covers (so review has work).
 * With `dataApi`, its runs also read through a PostgREST stand-in (test/target/postgrest-stand-in.ts) as anon and service_role.
 */
export async function startTestService(options: { dataApi?: boolean } = {}): Promise<{
  seed: SeedCase;
  store: RunStore;
  service: RunningService;
  home: string;
  api: PostgrestStandIn | null;
  stop(): Promise<void>;
}> {
  const driver = await dockerDriverForTests();
  const seed = await createSeedCase();
  await seed.sql('legacy', `INSERT INTO dispatch_role (name, abbrev, group_id) VALUES ('Night Floater', 'NF', 11)`);
  const home = await mkdtemp(join(tmpdir(), 'ferry-api-'));
  const store = await RunStore.open(seed.target.url);
  const secret = 'review-page-stand-in-secret-0123456789';
  const api = options.dataApi ? await startPostgrestStandIn({ dbUrl: seed.target.url, jwtSecret: secret }) : null;
  const service = await startService({
    store,
    sourceUrl: seed.legacy.url,
    targetUrl: seed.target.url,
    tokenSha256: sha256Hex(TOKEN),
    logger: silentLogger,
    home,
    driver,
    policy: defaultPolicy,
    ...(api ? { dataApi: { url: api.url, anonKey: signJwt({ role: 'anon' }, secret), serviceRoleKey: signJwt({ role: 'service_role' }, secret), accessToken: undefined } } : {}),
  });
  return {
    seed,
    store,
    service,
    home,
    api,
    stop: async () => {
      await service.close();
      await api?.close();
      await store.close();
      await seed.drop();
      await rm(home, { recursive: true, force: true });
    },
  };
}
