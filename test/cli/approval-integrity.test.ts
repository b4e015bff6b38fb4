import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash } from '../../src/core/artifacts/hash.js';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';

type PlanJson = {
  id: string;
  revision: number;
  status: string;
  approvedBy?: string;
  approvedAt?: string;
  enumMappings: Array<{ enumValues: string[]; values: Array<{ target: string | null }> }>;
  foreignKeys: Array<{ value: string | null; candidates: Array<{ value: string }> }>;
};

/**
 * What a person approved is what runs: an approved plan file edited afterwards, or a draft
 * edited to say "approved", is refused before anything runs (real PostgreSQL, the CLI).
 */
describe('ferry run only runs the plan content the run store approved', () => {
  let seed: SeedCase;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let planPath: string;
  let approvedText: string;
  const ferry = (...args: string[]) => runFerry(env, args);
  const targetRows = async () => Number((await seed.sql('target', 'SELECT count(*) AS n FROM technician_roles')).rows[0].n);
  const storedApproval = async (id: string) =>
    (await seed.sql('target', `SELECT revision, status, plan_hash FROM ferry.plan_versions WHERE plan_id = $1 ORDER BY revision`, [id])).rows;

  beforeAll(async () => {
    seed = await createSeedCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-approval-'));
    env = cliEnv({ sourceUrl: seed.legacy.url, targetUrl: seed.target.url }, home, 'approver-ines', { FERRY_SANDBOX: 'local' });
    const planned = await ferry('plan', '--llm', 'off', DEMO_DESCRIPTION);
    expect(planned.code).toBe(0);
    planPath = /Plan written to (\S+\.json)/.exec(planned.stdout)![1]!;
    const approved = await ferry('approve', planPath);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    approvedText = await readFile(planPath, 'utf8');
  });
  afterAll(async () => {
    await seed?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  async function runEdited(edit: (p: PlanJson) => void) {
    const plan = JSON.parse(approvedText) as PlanJson;
    edit(plan);
    await writeFile(planPath, JSON.stringify(plan, null, 2));
    try {
      return { plan, result: await ferry('run', planPath, '--allow-weak-sandbox') };
    } finally {
      await writeFile(planPath, approvedText);
    }
  }

  it('refuses an approved plan whose enum mapping was edited, naming both hashes and the field', async () => {
    const approvedHash = contentHash(JSON.parse(approvedText));
    const { plan, result } = await runEdited((p) => {
      const m = p.enumMappings[0]!;
      const v = m.values.findIndex((x) => x.target !== null);
      m.values[v]!.target = m.enumValues.find((e) => e !== m.values[v]!.target)!;
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PLAN_TAMPERED');
    expect(result.stderr).toContain(approvedHash);
    expect(result.stderr).toContain(contentHash(plan));
    expect(result.stderr).toMatch(/first difference at \$\.enumMappings\[0\]\.values\[\d+\]\.target/);
    expect(await targetRows()).toBe(0);
  });

  it('refuses an approved plan whose FK value was edited', async () => {
    const { result } = await runEdited((p) => {
      const fk = p.foreignKeys[0]!;
      fk.value = fk.candidates.map((c) => c.value).find((c) => c !== fk.value) ?? '00000000-0000-4000-8000-00000000beef';
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PLAN_TAMPERED');
    expect(result.stderr).toContain('first difference at $.foreignKeys[0].value');
    expect(await targetRows()).toBe(0);
  });

  it('never lets a re-approval of an edited file replace the approved hash', async () => {
    const before = await storedApproval((JSON.parse(approvedText) as PlanJson).id);
    const plan = JSON.parse(approvedText) as PlanJson;
    plan.foreignKeys[0]!.value = plan.foreignKeys[0]!.candidates.map((c) => c.value).find((c) => c !== plan.foreignKeys[0]!.value) ?? null;
    await writeFile(planPath, JSON.stringify(plan, null, 2));
    const again = await ferry('approve', planPath);
    await writeFile(planPath, approvedText);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('PLAN_TAMPERED');
    expect(await storedApproval(plan.id)).toEqual(before);
  });

  it('refuses a draft edited to say "approved": the store has no approval for it', async () => {
    // Planning again makes revision 2, a draft, in the same file.
    const planned = await ferry('plan', '--llm', 'off', DEMO_DESCRIPTION);
    expect(planned.code).toBe(0);
    const draft = JSON.parse(await readFile(planPath, 'utf8')) as PlanJson;
    expect(draft).toMatchObject({ status: 'draft', revision: 2 });
    await writeFile(planPath, JSON.stringify({ ...draft, status: 'approved', approvedBy: 'nobody', approvedAt: new Date().toISOString() }, null, 2));
    const r = await ferry('run', planPath, '--allow-weak-sandbox');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PLAN_NOT_APPROVED');
    expect(r.stderr).toContain('no approval');
    expect(r.stderr).toContain('ferry approve');
    expect(await targetRows()).toBe(0);
    expect((await storedApproval(draft.id)).map((x) => [x.revision, x.status])).toEqual([
      [1, 'approved'],
      [2, 'draft'],
    ]);
  });
});
