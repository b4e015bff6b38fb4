import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan, orderByDependencies } from '../../agents/planning/index.js';
import type { MigrationIntent } from '../../agents/planning/index.js';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { reviewItems, type MigrationPlan } from '../../src/artifacts/migration-plan.js';
import type { TableInfo } from '../../src/artifacts/schema-analysis.js';
import { describeToPlans, executePlan, executePlanSet, openConnections, prepareProgram, type Connections, type PlannedTable } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import type { RunEvent } from '../../src/orchestrator/run-migration.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createFkCase, ORPHAN_INVOICES, type FkCase } from './fk-case.js';

const DESCRIPTION = 'move invoices, customers and employees';

describe('migrations that depend on migrations, on real PostgreSQL and Docker', () => {
  let fk: FkCase;
  let conn: Connections;
  let driver: SandboxDriver;
  let work: string;
  let planned: PlannedTable[];
  const byTable = (t: string) => planned.find((p) => p.plan.target.table === t)!;
  const origin = (plan: MigrationPlan, column: string) => plan.columns.find((c) => c.target === column)!;
  let step = 0;
  const run = async (p: { plan: MigrationPlan; analysis: PlannedTable['analysis'] }, events: RunEvent[] = []) => {
    step += 1;
    const program = await prepareProgram({ plan: p.plan, analysis: p.analysis, dir: join(work, `run${step}`) });
    return executePlan({ plan: p.plan, analysis: p.analysis, program, conn, driver, policy: defaultPolicy, onEvent: (e) => events.push(e) });
  };
  const n = async (sql: string, params: unknown[] = []) => Number((await fk.sql('target', sql, params)).rows[0]!.n);
  const counts = async () => ({
    employees: await n('SELECT count(*) AS n FROM employees'),
    customers: await n('SELECT count(*) AS n FROM customers'),
    invoices: await n('SELECT count(*) AS n FROM invoices'),
    mappings: await n('SELECT count(*) AS n FROM migration_mappings'),
  });
  /** Every migrated row's reference, read back through both mappings: [legacy child, legacy parent the new uuid maps back to]. */
  const remapped = async (table: string, column: string, parent: string) =>
    (
      await fk.sql(
        'target',
        `SELECT cm.legacy_id AS child, pm.legacy_id AS parent
           FROM ${table} t JOIN migration_mappings cm ON cm.target_table = 'public.${table}' AND cm.new_id = t.id::text
           LEFT JOIN migration_mappings pm ON pm.target_table = 'public.${parent}' AND pm.new_id = t.${column}::text
          ORDER BY cm.legacy_id::int`,
      )
    ).rows.map((r) => [Number(r.child), r.parent === null ? null : Number(r.parent)]);

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    fk = await createFkCase();
    conn = await openConnections(fk.legacy.url, fk.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-fk-'));
    planned = (await describeToPlans({ description: DESCRIPTION, conn }))!;
  });
  afterAll(async () => {
    await conn?.close();
    await fk?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('planning', () => {
    it('makes one plan per named table, parents first whatever order the description uses', () => {
      expect(planned.map((p) => `${p.plan.source.table}→${p.plan.target.table}`)).toEqual(['employees→employees', 'customers→customers', 'invoices→invoices']);
      expect(planned.map((p) => p.plan.source.rowCount)).toEqual([8, 6, 10]);
      expect(byTable('customers').plan.strategy.dependencies).toEqual(['employees']);
      expect(byTable('invoices').plan.strategy.dependencies).toEqual(['customers']);
      expect(byTable('employees').plan.strategy.dependencies).toEqual([]);
    });

    it('resolves references through the parent migration, naming its plan', () => {
      const employees = byTable('employees').plan;
      expect(origin(byTable('customers').plan, 'support_rep_id').origin).toEqual({
        kind: 'via_mapping',
        source: 'support_rep_id',
        parent: { sourceTable: 'public.employees', targetTable: 'public.employees', refColumn: 'id', planId: employees.id },
        onOrphan: 'fail',
      });
      const self = origin(employees, 'reports_to');
      expect(self.origin).toMatchObject({ kind: 'via_mapping', source: 'reports_to', parent: { sourceTable: 'public.employees', targetTable: 'public.employees' }, onOrphan: 'fail' });
      expect(self.reason).toContain('second pass');
      expect(origin(employees, 'legacy_id').origin).toEqual({ kind: 'copy', source: 'id' });
      expect(byTable('customers').plan.validations).toContain('fk_integrity');
    });

    it('flags orphan legacy values for review, naming them, and the plan cannot be approved until decided', () => {
      const plan = byTable('invoices').plan;
      const col = origin(plan, 'customer_id');
      expect(col).toMatchObject({ status: 'needs_review', origin: { kind: 'via_mapping', onOrphan: 'needs_review' } });
      expect(col.reason).toContain('2 legacy row(s)');
      expect(col.reason).toContain('id 4 → 99');
      expect(col.reason).toContain('id 8 → 98');
      expect(reviewItems(plan).join('\n')).toContain('--orphans customer_id=<set_null|fail>');
      expect(() => approvePlan(plan, 'test')).toThrowError(expect.objectContaining({ code: 'PLAN_NEEDS_REVIEW' }));
    });

    it('allows set_null only where the target column is nullable', async () => {
      const plan = byTable('invoices').plan;
      const probe = createPlanProbe(conn.source, conn.target);
      await expect(applyOverrides(plan, { orphans: [{ column: 'customer_id', policy: 'set_null' }] }, 't', probe, new Date(), () => false)).rejects.toMatchObject({
        code: 'OVERRIDE_INVALID_ORPHAN_POLICY',
      });
      await expect(applyOverrides(plan, { orphans: [{ column: 'total', policy: 'fail' }] }, 't', probe)).rejects.toMatchObject({ code: 'OVERRIDE_UNKNOWN_REFERENCE' });
      const next = await applyOverrides(plan, { orphans: [{ column: 'customer_id', policy: 'set_null' }] }, 't', probe, new Date(), () => true);
      expect(reviewItems(next)).toEqual([]);
      expect(origin(next, 'customer_id').origin).toMatchObject({ onOrphan: 'set_null' });
    });

    it('reports a cycle among the named tables instead of guessing an order', () => {
      const table = (name: string, refs: string[]): TableInfo => ({
        schema: 'public',
        name,
        columns: [],
        primaryKey: ['id'],
        uniqueKeys: [],
        foreignKeys: refs.map((r) => ({ name: `${name}_${r}`, columns: [`${r}_id`], refSchema: 'public', refTable: r, refColumns: ['id'] })),
        rowCount: 0,
        rowCountExact: true,
        profiles: [],
        classification: { kind: 'unknown', reasons: [] },
      });
      const intent = (t: TableInfo): MigrationIntent => ({ source: t, target: t, filters: [], evidence: [] });
      const a = table('a', ['c']);
      const b = table('b', ['a', 'b']);
      const c = table('c', ['b']);
      expect(() => orderByDependencies([intent(a), intent(b), intent(c)])).toThrowError(expect.objectContaining({ code: 'DEPENDENCY_CYCLE', message: expect.stringContaining('a → c → b → a') }));
      // A self-reference alone is no cycle.
      expect(orderByDependencies([intent(table('c2', ['b'])), intent(table('b', ['b']))]).map((i) => i.source.name)).toEqual(['b', 'c2']);
    });

    it('generates programs that leave the resolved references to the orchestrator', async () => {
      const p = byTable('customers');
      const script = await generateScript({ plan: approvePlan(p.plan, 't'), analysis: p.analysis });
      expect(script.typecheck.ok).toBe(true);
      expect(script.program).not.toMatch(/support_rep_id:/);
      expect(script.program).toContain('looked up by the orchestrator in migration_mappings');
    });
  });
});
