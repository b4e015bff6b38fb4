import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { PlanSet } from '../../src/core/artifacts/migration-plan.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createFkCase, type FkCase } from './fk-case.js';


describe('ferry with a plan set: plan, approve, run, rollback --cascade', () => {
  let fk: FkCase;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const ferry = (...args: string[]) => runFerry(env, args);
  const n = async (sql: string) => Number((await fk.sql('target', sql)).rows[0]!.n);

  beforeAll(async () => {
    await dockerDriverForTests();
    fk = await createFkCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-fk-cli-'));
    env = cliEnv({ sourceUrl: fk.legacy.url, targetUrl: fk.target.url }, home, 'cli-test');
  });
  afterAll(async () => {
    await fk?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('plans, approves and runs three tables in dependency order, then refuses and cascades a rollback', async () => {
    const planned = await ferry('plan', 'move employees, then customers, then invoices');
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    const setPath = /Plan set written to (\S+):/.exec(planned.stdout)![1]!;
    const set = PlanSet.parse(JSON.parse(await readFile(setPath, 'utf8')));
    expect(set.plans.map((p) => p.targetTable)).toEqual(['public.employees', 'public.customers', 'public.invoices']);
    expect(set.plans[1]!.dependsOn).toEqual([set.plans[0]!.planId]);
    expect(planned.stdout).toContain('--orphans customer_id=<set_null|fail>');

    const refused = await ferry('approve', setPath);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('PLAN_NEEDS_REVIEW');

    const invoicesPlan = resolve(dirname(setPath), set.plans[2]!.path);
    const decided = await ferry('approve', invoicesPlan, '--orphans', 'customer_id=set_null');
    expect(decided.stderr).toBe('');
    expect(decided.stdout).toContain('customer_id: orphans needs_review → set_null');
    expect((await ferry('approve', setPath)).code).toBe(0);

    const ran = await ferry('run', setPath);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('reports_to: second pass set 7 reference(s)');
    expect(ran.stdout).toContain('plan set completed: 3 migrations');
    expect(ran.stdout).toContain('legacy 4: customer_id ← 99, written NULL (set_null)');
    expect(ran.stdout).toContain('legacy 8: customer_id ← 98, written NULL (set_null)');
    expect(await n('SELECT count(*) AS n FROM ferry_control.migration_control')).toBe(3);
    expect(await n('SELECT count(*) AS n FROM ferry_control.migration_mappings')).toBe(24);
    expect(await n('SELECT count(*) AS n FROM invoices WHERE customer_id IS NULL')).toBe(2);

    const ids = (await fk.sql('target', 'SELECT id FROM ferry_control.migration_control ORDER BY id')).rows.map((r) => String(r.id));
    const blocked = await ferry('rollback', ids[0]!);
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain('ROLLBACK_HAS_DEPENDANTS');
    expect(blocked.stderr).toContain(`migration ${ids[1]}`);
    expect(await n('SELECT count(*) AS n FROM ferry_control.migration_mappings')).toBe(24);

    const cascaded = await ferry('rollback', ids[0]!, '--cascade');
    expect(cascaded.code).toBe(0);
    expect(cascaded.stdout).toContain(`dependant migration ${ids[2]} rolled back first: 10 rows`);
    expect(cascaded.stdout).toContain(`dependant migration ${ids[1]} rolled back first: 6 rows`);
    expect(cascaded.stdout).toContain(`migration ${ids[0]} rolled back: 8 rows and 8 mappings deleted`);
    expect(await n('SELECT (SELECT count(*) FROM employees) + (SELECT count(*) FROM customers) + (SELECT count(*) FROM invoices) + (SELECT count(*) FROM ferry_control.migration_mappings) AS n')).toBe(0);
  });
});
