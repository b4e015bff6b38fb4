import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homePath, planFilePath } from '../../src/store/file-store.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { runScript } from '../setup/seed-case.js';

/** Every file under dir, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

const LEGACY = `
CREATE TABLE "../../../../tmp/x" (legacy_no integer PRIMARY KEY, full_name text NOT NULL, shoe_size numeric);
INSERT INTO "../../../../tmp/x" VALUES (7, 'Ångström, Ada', 38.5), (8, E'tab\\there', NULL), (9, 'O''Brien', 44);
CREATE TABLE crew_roster (roster_no integer PRIMARY KEY, callsign text NOT NULL);
INSERT INTO crew_roster VALUES (1, 'kestrel'), (2, 'MERLIN  '), (3, '');
`;
const TARGET = `
CREATE TABLE staff_members (id integer PRIMARY KEY, full_name text NOT NULL, shoe_size numeric);
CREATE TABLE pilots (id integer PRIMARY KEY, callsign text NOT NULL);
`;

describe('plan ids and the paths made from them', () => {
  let legacy: TestDatabase;
  let targetA: TestDatabase;
  let targetB: TestDatabase;
  let base: string;

  beforeAll(async () => {
    legacy = await createTestDatabase('pathslegacy');
    targetA = await createTestDatabase('pathstargeta');
    targetB = await createTestDatabase('pathstargetb');
    await runScript(legacy.url, LEGACY);
    await runScript(targetA.url, TARGET);
    await runScript(targetB.url, TARGET);
    base = await mkdtemp(join(tmpdir(), 'ferry-paths-'));
  });
  afterAll(async () => {
    await legacy?.drop();
    await targetA?.drop();
    await targetB?.drop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('a legacy table named ../../../../tmp/x gives a plain plan id, and every file stays under FERRY_HOME', async () => {
    // Deep enough that the old "plans/<id>.json" would have landed inside base, where we can see it.
    const home = join(base, 'h1', 'h2', 'h3', 'home');
    await mkdir(home, { recursive: true });
    const r = await runFerry(cliEnv({ sourceUrl: legacy.url, targetUrl: targetA.url }, home, 'paths-test'), [
      'plan',
      '--llm',
      'off',
      'Move every row of "../../../../tmp/x" into staff_members',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(r.stdout)?.[1];
    expect(planPath).toBeDefined();
    const plan = JSON.parse(await readFile(planPath!, 'utf8')) as { id: string; source: { table: string } };
    expect(plan.source.table).toBe('../../../../tmp/x');
    expect(plan.id).toMatch(/^[a-z0-9_-]+$/);
    expect(plan.id.startsWith('tmp-x-to-staff_members-')).toBe(true);
    const everything = await filesUnder(base);
    expect(everything.length).toBeGreaterThan(0);
    for (const f of everything) expect(f.startsWith(join('h1', 'h2', 'h3', 'home', 'plans') + '/')).toBe(true);
  });

  it('refuses a path made from a name that climbs out of FERRY_HOME', () => {
    const home = join(base, 'somewhere');
    expect(() => homePath(home, 'plans', '../../../../tmp/x.json')).toThrow(expect.objectContaining({ code: 'PATH_OUTSIDE_HOME' }));
    expect(() => homePath(home, '/etc/passwd')).toThrow(expect.objectContaining({ code: 'PATH_OUTSIDE_HOME' }));
    expect(() => planFilePath(home, '../x')).toThrow(expect.objectContaining({ code: 'PLAN_ID_INVALID' }));
    expect(planFilePath(home, 'crew_roster-to-pilots-abc123-0f0f0f0f')).toBe(join(home, 'plans', 'crew_roster-to-pilots-abc123-0f0f0f0f.json'));
  });

  it('planning the same tables against another target makes another plan file and leaves the first as it was', async () => {
    const home = join(base, 'pairs');
    const description = 'Move the roster from crew_roster into pilots';
    const first = await runFerry(cliEnv({ sourceUrl: legacy.url, targetUrl: targetA.url }, home, 'pairs-test'), ['plan', '--llm', 'off', description]);
    expect(first.code).toBe(0);
    const firstPath = /Plan written to (\S+\.json)/.exec(first.stdout)?.[1]!;
    const firstBytes = await readFile(firstPath, 'utf8');

    const second = await runFerry(cliEnv({ sourceUrl: legacy.url, targetUrl: targetB.url }, home, 'pairs-test'), ['plan', '--llm', 'off', description]);
    expect(second.code).toBe(0);
    const secondPath = /Plan written to (\S+\.json)/.exec(second.stdout)?.[1]!;
    expect(secondPath).not.toBe(firstPath);
    expect(await readFile(firstPath, 'utf8')).toBe(firstBytes);
    const firstPlan = JSON.parse(firstBytes) as { id: string };
    expect(firstPlan.id).toMatch(/^crew_roster-to-pilots-[0-9a-f]{6}-[0-9a-f]{8}$/);
    const secondPlan = JSON.parse(await readFile(secondPath, 'utf8')) as { id: string; revision: number };
    expect(secondPlan.id).not.toBe(firstPlan.id);
    expect(secondPlan.revision).toBe(1);
  });
});
