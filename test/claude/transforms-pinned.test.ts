import { mkdir, mkdtemp, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COLUMNS_TOOL, INTENT_TOOL } from '../../agents/planning/claude/index.js';
import { WRITE_TOOL } from '../../agents/code-interpreter/claude/write-transforms.js';
import { sha256 } from '../../src/core/artifacts/hash.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { fixture, startFakeAnthropic, toolUse, type FakeAnthropic } from './fake-anthropic.js';
import { readingAcks } from './reading-acks.js';

const DESCRIPTION = 'bring the employees across; full name is first + last; keep who reports to whom';

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** The approval pins every model-written function; ferry run never asks a model for code. */
describe('model-written functions are part of what a person approves', () => {
  let legacy: TestDatabase;
  let target: TestDatabase;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let planPath: string;
  let transformsPath: string;
  let approvedFunctions: string;
  let fake: FakeAnthropic | undefined;

  beforeAll(async () => {
    legacy = await createTestDatabase('pin_legacy');
    target = await createTestDatabase('pin_target');
    await sql(legacy.url, `CREATE TABLE employees (id serial PRIMARY KEY, first_name varchar(50) NOT NULL, last_name varchar(50) NOT NULL, email text, manager_id integer REFERENCES employees(id));
      INSERT INTO employees (first_name, last_name, email, manager_id) VALUES ('Zoë', 'd''Arc', NULL, NULL), (E'Tab\\tbed', '  Spaced ', 'x@example.org', 1)`);
    await sql(target.url, `CREATE TABLE employees (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), badge_line text NOT NULL, email text, reports_to uuid REFERENCES employees(id), legacy_employee_id integer)`);
    home = await mkdtemp(join(tmpdir(), 'ferry-pin-'));
    env = cliEnv({ sourceUrl: legacy.url, targetUrl: target.url }, home, 'reviewer-olu', { FERRY_SANDBOX: 'local' });
    planPath = join(home, 'staff.json');
    transformsPath = join(home, 'staff.transforms.json');

    fake = await startFakeAnthropic([toolUse(INTENT_TOOL, fixture('employees-intent.json')), toolUse(COLUMNS_TOOL, fixture('employees-columns.json'))]);
    const planned = await runFerry({ ...env, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL }, ['plan', DESCRIPTION, '--out', planPath]);
    expect(planned.code).toBe(0);
    await fake.close();
    fake = await startFakeAnthropic([toolUse(WRITE_TOOL, fixture('employees-functions.json'))]);
    // The model's reading of the words is acknowledged, as a reviewer would (issue 15).
    const acks = readingAcks(JSON.parse(await readFile(planPath, 'utf8')) as MigrationPlan).flatMap((n) => ['--ack', String(n)]);
    const approved = await runFerry({ ...env, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL }, ['approve', planPath, ...acks]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    await fake.close();
    fake = undefined;
    approvedFunctions = await readFile(transformsPath, 'utf8');
  });
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
    await writeFile(transformsPath, approvedFunctions);
  });
  afterAll(async () => {
    await legacy?.drop();
    await target?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const targetRows = async () => Number((await sql(target.url, 'SELECT count(*) AS n FROM employees')).rows[0].n);

  it('the approval records the sha256 of every function body', async () => {
    const plan = JSON.parse(await readFile(planPath, 'utf8')) as { id: string; revision: number };
    const pins = (await sql(target.url, `SELECT transform_hashes FROM ferry.plan_versions WHERE plan_id = '${plan.id}' AND revision = ${plan.revision} AND status = 'approved'`)).rows[0]
      ?.transform_hashes as Record<string, string>;
    const bodies = (JSON.parse(approvedFunctions) as { bodies: Record<string, string> }).bodies;
    expect(Object.keys(bodies)).toEqual(['badge_line']);
    expect(pins).toEqual({ badge_line: sha256(bodies.badge_line!) });
  });

  it('refuses an edited function body (TRANSFORMS_TAMPERED) and writes nothing', async () => {
    const kept = JSON.parse(approvedFunctions) as { bodies: Record<string, string> };
    kept.bodies.badge_line = "return 'owned';";
    await writeFile(transformsPath, JSON.stringify(kept, null, 2));
    const r = await runFerry(env, ['run', planPath, '--allow-weak-sandbox']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TRANSFORMS_TAMPERED');
    expect(r.stderr).toContain('badge_line');
    expect(r.stderr).toContain(sha256(kept.bodies.badge_line));
    expect(await targetRows()).toBe(0);
  });

  it('never asks a model when the functions file is missing: refuses with the command that fixes it', async () => {
    await unlink(transformsPath);
    fake = await startFakeAnthropic([toolUse(WRITE_TOOL, { functions: [{ target: 'badge_line', body: "return 'from a model at run time';" }] })]);
    const r = await runFerry({ ...env, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL }, ['run', planPath, '--allow-weak-sandbox']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('TRANSFORMS_MISSING');
    expect(r.stderr).toContain(`ferry approve ${planPath}`);
    expect(fake.requests).toHaveLength(0);
    expect(await targetRows()).toBe(0);
  });

  it('at approve, a kept functions file it cannot read is an error, never a new paid model call', async () => {
    fake = await startFakeAnthropic([toolUse(WRITE_TOOL, { functions: [{ target: 'badge_line', body: "return 'bought anew';" }] })]);
    const withModel = { ...env, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL };
    const cut = approvedFunctions.slice(0, Math.floor(approvedFunctions.length / 2));
    await writeFile(transformsPath, cut);
    const truncated = await runFerry(withModel, ['approve', planPath]);
    expect(truncated.code).not.toBe(0);
    expect(truncated.stderr).toContain('TRANSFORMS_UNREADABLE');
    expect(truncated.stderr).toContain(`${transformsPath} is not JSON`);
    expect(await readFile(transformsPath, 'utf8')).toBe(cut);

    await writeFile(transformsPath, JSON.stringify({ kind: 'plan_transforms', bodies: { badge_line: 7 } }));
    const foreign = await runFerry(withModel, ['approve', planPath]);
    expect(foreign.stderr).toContain('TRANSFORMS_UNREADABLE');
    expect(foreign.stderr).toContain('is not a functions file ferry wrote');

    await unlink(transformsPath);
    await mkdir(transformsPath);
    try {
      const folder = await runFerry(withModel, ['approve', planPath]);
      expect(folder.code).not.toBe(0);
      expect(folder.stderr).toContain('TRANSFORMS_UNREADABLE');
      expect(folder.stderr).toContain('cannot be read (EISDIR)');
    } finally {
      await rmdir(transformsPath);
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('runs the functions exactly as approved', async () => {
    const r = await runFerry(env, ['run', planPath, '--allow-weak-sandbox']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('as approved: sha256 pinned per function');
    const rows = await sql(target.url, 'SELECT badge_line FROM employees ORDER BY legacy_employee_id');
    expect(rows.rows.map((x) => x.badge_line)).toEqual(["Zoë d'Arc", 'Tab\tbed Spaced']);
  });
});
