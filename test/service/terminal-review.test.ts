import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';

describe('ferry review: resolving and approving at the terminal', () => {
  let seed: SeedCase;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    seed = await createSeedCase();
    // One role no rule covers: the review has a question to ask.
    await seed.sql('legacy', `INSERT INTO dispatch_role (name, abbrev, group_id) VALUES ('Night Floater', 'NF', 11)`);
    home = await mkdtemp(join(tmpdir(), 'ferry-review-'));
    env = cliEnv({ sourceUrl: seed.legacy.url, targetUrl: seed.target.url }, home, 'terminal-reviewer');
  });
  afterAll(async () => {
    await seed?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('asks again on a wrong answer, makes the new revision, approves on "y", and the store sees it', async () => {
    const plan = await runFerry(env, ['plan', DEMO_DESCRIPTION]);
    expect(plan.code).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)![1]!;

    const review = await runFerry(env, ['review', planPath], 'astronaut\n4\ny\n');
    expect(review.stderr).toBe('');
    expect(review.code).toBe(0);
    expect(review.stdout).toContain('source value "Night Floater" (1 rows)');
    expect(review.stdout).toContain('"astronaut" is not one of the choices');
    expect(review.stdout).toMatch(/Revision 2:\n {2}role_type: "Night Floater": unresolved .* → \w+ \(override, overridden\)/);
    expect(review.stdout).toContain('revision 2 approved by terminal-reviewer');

    const saved = JSON.parse(await readFile(planPath, 'utf8'));
    expect(saved).toMatchObject({ revision: 2, status: 'approved', approvedBy: 'terminal-reviewer' });
    const chosen = saved.enumMappings[0].values.find((v: { source: string }) => v.source === 'Night Floater');
    expect(chosen).toMatchObject({ target: saved.enumMappings[0].enumValues[3], status: 'overridden' });
    const versions = await seed.sql('target', 'SELECT revision, status, decided_by FROM ferry.plan_versions ORDER BY revision');
    expect(versions.rows).toEqual([
      { revision: 1, status: 'draft', decided_by: null },
      { revision: 2, status: 'approved', decided_by: 'terminal-reviewer' },
    ]);
  });

  it('leaves the plan a draft when the answers run out, and says what is still open', async () => {
    const plan = await runFerry(env, ['plan', DEMO_DESCRIPTION, '--out', join(home, 'second.json')]);
    expect(plan.code).toBe(0);
    // The same move planned again is the stored plan's next revision (the first test made 1 and 2).
    const { revision } = JSON.parse(await readFile(join(home, 'second.json'), 'utf8')) as { revision: number };
    expect(revision).toBe(3);
    const review = await runFerry(env, ['review', join(home, 'second.json')], '');
    expect(review.code).toBe(1);
    expect(review.stdout).toContain(`1 decision(s) still open; revision ${revision} stays a draft`);
    expect(JSON.parse(await readFile(join(home, 'second.json'), 'utf8'))).toMatchObject({ revision, status: 'draft' });
  });
});
