import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { serve, type Served } from '../../src/service/serve.js';
import { DockerDriver } from '../../sandbox/docker-driver.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from '../filters/workshop-case.js';

const TOKEN = 'serve-pool-token-0123456789abcdef';

/** `ferry serve --pool 2` (serve() with pool 2): two warm containers wait; two runs take one each. */
describe('ferry serve with a warm pool of 2, on real PostgreSQL and Docker', () => {
  let db: DatabasePair;
  let home: string;
  let served: Served;
  let stopped = false;
  const said: string[] = [];
  const docker = new DockerDriver({ reapOnStart: false });
  const mine = async () => (await docker.containers()).filter((c) => c.owner === 'self' && c.labels['ferry.pool'] !== undefined && c.state === 'running').map((c) => c.id);

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createWorkshopCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-serve-pool-'));
    const config = loadConfig({ SOURCE_DATABASE_URL: db.legacy.url, TARGET_DATABASE_URL: db.target.url, FERRY_HOME: home, FERRY_SANDBOX_POOL: '0' }, home);
    served = await serve(config, { port: 0, demo: false, token: TOKEN, allowWeakSandbox: false, pool: 2 }, (line) => said.push(line));
  });
  afterAll(async () => {
    if (!stopped) await served?.stop();
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${served.service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const finished = async (runId: number) => {
    for (;;) {
      const r = await api('GET', `/api/runs/${runId}`);
      if (r.body.run.status !== 'running') return r.body;
      await new Promise((res) => setTimeout(res, 250));
    }
  };

  it('says so, keeps 2 warm containers, runs a dry run and a run each on its own, and removes them on stop', async () => {
    expect(said.join('\n')).toContain('sandbox pool: 2 warm container(s)');
    // The pool fills in the background.
    for (let i = 0; (await mine()).length < 2; i++) {
      if (i > 600) throw new Error('the pool never held 2 warm containers');
      await new Promise((r) => setTimeout(r, 100));
    }
    const warm = await mine();
    expect(warm).toHaveLength(2);

    const described = await api('POST', '/api/describe', { description: WORKSHOP_DESCRIPTION });
    expect(described.status).toBe(201);
    const planId: string = described.body.plan.id;
    const overridden = await api('POST', `/api/plans/${planId}/overrides`, {
      revision: 1,
      map: [{ source: 'MT*', target: 'manufacturing' }],
      exclude: [{ source: 'Volunteer' }],
      excludeNull: ['craft'],
    });
    expect(overridden.status).toBe(201);
    expect(await api('POST', `/api/plans/${planId}/approve`, { revision: 2, by: 'ana' })).toMatchObject({ status: 200 });

    const dry = await api('POST', '/api/runs', { planId, revision: 2, dryRun: true });
    expect(dry.status).toBe(202);
    const dryDone = await finished(dry.body.run.id);
    const real = await api('POST', '/api/runs', { planId, revision: 2 });
    expect(real.status).toBe(202);
    const realDone = await finished(real.body.run.id);

    expect(dryDone).toMatchObject({ run: { status: 'completed', mode: 'dry_run' }, sandbox: { driver: 'docker', exitReason: 'ok', rowsIn: 36 } });
    expect(realDone).toMatchObject({ run: { status: 'completed', mode: 'run' }, report: { status: 'passed', counts: { migrated: 36 } }, sandbox: { exitReason: 'ok', rowsIn: 36 } });
    const used = [dryDone.sandbox.containerId, realDone.sandbox.containerId];
    // Each run on one of the containers that were waiting, never the same one twice.
    expect(new Set(used).size).toBe(2);
    for (const id of used) expect(warm).toContain(id);
    const now = await mine();
    for (const id of used) expect(now).not.toContain(id);

    stopped = true;
    await served.stop();
    expect(await mine()).toEqual([]);
  });
});
