import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';

describe('the CLI on the run store: dry run, runs show, replay', () => {
  let seed: SeedCase;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const ferry = (...args: string[]) => runFerry(env, args);

  beforeAll(async () => {
    await dockerDriverForTests();
    seed = await createSeedCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-cli-store-'));
    env = cliEnv({ sourceUrl: seed.legacy.url, targetUrl: seed.target.url }, home, 'store-test');
  });
  afterAll(async () => {
    await seed?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('records plans in the store, previews with --dry-run, and replays a recorded run', async () => {
    const plan = await ferry('plan', DEMO_DESCRIPTION);
    expect(plan.code).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)![1]!;
    const stored = await seed.sql('target', 'SELECT plan_id, revision, status FROM ferry.plan_versions');
    expect(stored.rows).toHaveLength(1);
    const planId = String(stored.rows[0]!.plan_id);
    expect(stored.rows[0]).toMatchObject({ revision: 1, status: 'draft' });

    // By plan id, as the service would hand it out.
    expect((await ferry('approve', planId)).code).toBe(0);
    expect((await seed.sql('target', 'SELECT status, decided_by FROM ferry.plan_versions')).rows[0]).toEqual({ status: 'approved', decided_by: 'store-test' });

    const dry = await ferry('run', planPath, '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/dry run completed: 31 rows would be written/);
    const dryChecksum = /rows checksum ([0-9a-f]{64})/.exec(dry.stdout)![1];
    expect(Number((await seed.sql('target', 'SELECT count(*) AS n FROM technician_roles')).rows[0]!.n)).toBe(0);

    const run = await ferry('run', planPath);
    expect(run.code).toBe(0);
    const runId = /recorded as run (\d+)/.exec(run.stdout)![1]!;
    const recorded = await seed.sql('target', 'SELECT rows_checksum FROM ferry.runs WHERE id = $1', [runId]);
    expect(recorded.rows[0]!.rows_checksum).toBe(dryChecksum);

    const show = await ferry('runs', 'show', runId);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('Timeline');
    expect(show.stdout).toMatch(/batch 1: 31 rows/);
    expect(show.stdout).toContain('ALL VALIDATIONS PASSED');

    const replay = await ferry('replay', runId);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('reproduced: 31 rows');

    const list = await ferry('runs');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('Recorded runs');
    expect(list.stdout).toMatch(new RegExp(`replay of run ${runId} of plan`));

    const missing = await ferry('runs', 'show', '999');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('RUN_NOT_FOUND');

    // Planning the same move again makes revision 2; the approved, run revision 1 stays as it was.
    const again = await ferry('plan', DEMO_DESCRIPTION);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/revision 2, DRAFT/);
    const versions = await seed.sql('target', 'SELECT revision, status, decided_by FROM ferry.plan_versions ORDER BY revision');
    expect(versions.rows).toEqual([
      { revision: 1, status: 'approved', decided_by: 'store-test' },
      { revision: 2, status: 'draft', decided_by: null },
    ]);
  });
});
