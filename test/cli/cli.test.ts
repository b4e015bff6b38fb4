import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';


describe('the ferry command', () => {
  let seed: SeedCase;
  let home: string;
  let env: NodeJS.ProcessEnv;

  const ferry = (...args: string[]) => runFerry(env, args);

  beforeAll(async () => {
    await dockerDriverForTests();
    seed = await createSeedCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-cli-'));
    env = cliEnv({ sourceUrl: seed.legacy.url, targetUrl: seed.target.url }, home, 'cli-test');
  });
  afterAll(async () => {
    await seed?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('explains itself and each command', async () => {
    const top = await ferry('--help');
    expect(top.code).toBe(0);
    for (const c of ['plan', 'approve', 'run', 'validate', 'rollback']) expect(top.stdout).toContain(c);
    for (const c of ['plan', 'approve', 'run', 'validate', 'rollback']) {
      const r = await ferry(c, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`ferry ${c}`);
    }
    const bad = await ferry('frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('COMMAND_UNKNOWN');
  });

  it('says what is missing when no database is configured', async () => {
    const r = await runFerry({ PATH: process.env.PATH, FERRY_HOME: home }, ['plan', DEMO_DESCRIPTION]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SOURCE_DATABASE_URL is not set/);
  });

  it('plans, refuses to run a draft, approves, runs, validates and rolls back', async () => {
    const plan = await ferry('plan', DEMO_DESCRIPTION);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Enum mapping: name → role_type');
    expect(plan.stdout).toContain('DTR-Alejandro');
    expect(plan.stdout).toMatch(/Foreign key: technician_id/);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)?.[1];
    expect(planPath).toBeDefined();

    const refused = await ferry('run', planPath!);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('PLAN_NOT_APPROVED');

    const approved = await ferry('approve', planPath!);
    expect(approved.code).toBe(0);
    // The program is there to read before anything runs.
    const programPath = /the program that will run: (\S+)/.exec(approved.stdout)?.[1];
    expect(await readFile(programPath!, 'utf8')).toContain('export function transform(row: SourceRow): ProgramOutput');
    expect(JSON.parse(await readFile(planPath!, 'utf8'))).toMatchObject({ status: 'approved', approvedBy: 'cli-test' });

    // The target changed after planning: the run is refused, naming the change.
    await seed.sql('target', 'ALTER TABLE technician_roles ADD COLUMN region text NOT NULL');
    const stale = await ferry('run', planPath!);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toContain('ANALYSIS_STALE');
    expect(stale.stderr).toContain('technician_roles.region is a new required column');
    await seed.sql('target', 'ALTER TABLE technician_roles DROP COLUMN region');

    const run = await ferry('run', planPath!);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('ALL VALIDATIONS PASSED');
    expect(run.stdout).toMatch(/31 inserted/);
    const id = /migration (\d+) completed/.exec(run.stdout)?.[1];
    expect(await readFile(join(planPath!.replace(/\.json$/, '.bundle'), 'program.ts'), 'utf8')).toContain('export function transform');

    const again = await ferry('run', planPath!);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/0 inserted, 31 already migrated/);

    const validate = await ferry('validate', id!);
    expect(validate.code).toBe(0);
    expect(validate.stdout).toContain('ALL VALIDATIONS PASSED');

    const rollback = await ferry('rollback', id!);
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain('31 rows and 31 mappings deleted');
    const after = await ferry('validate', id!);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain('FAILED');
  });
});
