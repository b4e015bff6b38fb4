import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan, orderByDependencies } from '../../agents/planning/index.js';
import type { MigrationIntent } from '../../agents/planning/index.js';
import { bundleScript, generateScript } from '../../agents/code-interpreter/index.js';
import { reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlans, openConnections, prepareProgram, type Connections, type PlannedTable } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { runMigration, type RunEvent } from '../../src/orchestrator/run-migration.js';

import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { executeRunSet } from '../../src/run/run-plan-set.js';
import { createFkCase, ORPHAN_INVOICES, type FkCase } from './fk-case.js';

const DESCRIPTION = 'move invoices, customers and employees';

describe('migrations that depend on migrations, on real PostgreSQL and Docker', () => {
  let fk: FkCase;
  let conn: Connections;
  let driver: SandboxDriver;
  let work: string;
  let planned: PlannedTable[];
  let store: RunStore;
  const byTable = (t: string) => planned.find((p) => p.plan.target.table === t)!;
  const origin = (plan: MigrationPlan, column: string) => plan.columns.find((c) => c.target === column)!;
  let step = 0;
  const run = async (p: { plan: MigrationPlan; analysis: PlannedTable['analysis'] }, events: RunEvent[] = []) => {
    step += 1;
    // What `ferry approve` records: executeRun runs only plans the store holds an approval for.
    await store.savePlan(p.plan, p.analysis);
    const program = await prepareProgram({ plan: p.plan, analysis: p.analysis, dir: join(work, `run${step}`) });
    return executeRunForTest(store, { plan: p.plan, analysis: p.analysis, program, conn, driver, policy: defaultPolicy, onEvent: (e) => events.push(e) });
  };
  const n = async (sql: string, params: unknown[] = []) => Number((await fk.sql('target', sql, params)).rows[0]!.n);
  const counts = async () => ({
    employees: await n('SELECT count(*) AS n FROM employees'),
    customers: await n('SELECT count(*) AS n FROM customers'),
    invoices: await n('SELECT count(*) AS n FROM invoices'),
    mappings: await n('SELECT count(*) AS n FROM ferry_control.migration_mappings'),
  });
  /** Every migrated row's reference, read back through both mappings: [legacy child, legacy parent the new uuid maps back to]. */
  const remapped = async (table: string, column: string, parent: string) =>
    (
      await fk.sql(
        'target',
        `SELECT cm.legacy_id AS child, pm.legacy_id AS parent
           FROM ${table} t JOIN ferry_control.migration_mappings cm ON cm.target_table = 'public.${table}' AND cm.new_id = t.id::text
           LEFT JOIN ferry_control.migration_mappings pm ON pm.target_table = 'public.${parent}' AND pm.new_id = t.${column}::text
          ORDER BY cm.legacy_id::int`,
      )
    ).rows.map((r) => [Number(r.child), r.parent === null ? null : Number(r.parent)]);

  beforeAll(async () => {
    driver = await dockerDriverForTests();
  });
  // Fresh databases, run store and plans for every test: a test that needs parents migrated
  // (or rolled back) does that itself, so any test runs alone and in any order.
  beforeEach(async () => {
    fk = await createFkCase();
    conn = await openConnections(fk.legacy.url, fk.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-fk-'));
    planned = (await describeToPlans({ description: DESCRIPTION, conn }))!;
    store = await RunStore.open(fk.target.url);
  });
  afterEach(async () => {
    await store?.close();
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

    it('reads singular names and "then" lists too, and leaves single-table descriptions alone', async () => {
      const again = (await describeToPlans({ description: 'Migrate employee, then customer, then invoice.', conn }))!;
      expect(again.map((p) => p.plan.target.table)).toEqual(['employees', 'customers', 'invoices']);
      expect(await describeToPlans({ description: 'move the rows from employees into employees', conn })).toBeNull();
      await expect(describeToPlans({ description: 'move employees, then suppliers', conn })).rejects.toMatchObject({ code: 'TABLE_NOT_FOUND' });
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

    it('a NOT NULL self-reference cannot be written in two passes: review, and no program', async () => {
      await fk.sql('target', 'ALTER TABLE employees ALTER COLUMN reports_to SET NOT NULL');
      try {
        const p = (await describeToPlans({ description: 'move employees and customers', conn }))![0]!;
        const col = origin(p.plan, 'reports_to');
        expect(col).toMatchObject({ status: 'needs_review', origin: { kind: 'via_mapping', onOrphan: 'needs_review' } });
        expect(col.reason).toContain('NOT NULL');
        const forced = approvePlan(await applyOverrides(p.plan, { orphans: [{ column: 'reports_to', policy: 'fail' }] }, 't', createPlanProbe(conn.source, conn.target)), 't');
        await expect(generateScript({ plan: forced, analysis: p.analysis })).rejects.toMatchObject({ code: 'PLAN_INCONSISTENT', message: expect.stringContaining('second pass that sets it needs it nullable') });
      } finally {
        await fk.sql('target', 'ALTER TABLE employees ALTER COLUMN reports_to DROP NOT NULL');
      }
    });

    it('generates programs that leave the resolved references to the orchestrator', async () => {
      const p = byTable('customers');
      const script = await generateScript({ plan: approvePlan(p.plan, 't'), analysis: p.analysis });
      expect(script.typecheck.ok).toBe(true);
      expect(script.program).not.toMatch(/support_rep_id:/);
      expect(script.program).toContain('looked up by the orchestrator in migration_mappings');
    });
  });

  describe('running, in the order a person would, with everything that can go wrong', () => {
    // One fixed decision time: approving the same plan twice gives the same content (and hash).
    const AT = new Date('2026-03-02T09:30:00Z');
    const approved = (t: string) => ({ plan: approvePlan(byTable(t).plan, 'test', AT), analysis: byTable(t).analysis });
    /** employees in batches of 3, so most reports_to parents arrive in a later batch than their child. */
    const employees = () => {
      const p = approved('employees');
      return { ...p, plan: { ...p.plan, strategy: { ...p.plan.strategy, batchSize: 3 } } };
    };
    const invoicesWith = async (policy: 'set_null' | 'fail') => {
      const p = byTable('invoices');
      const next = await applyOverrides(p.plan, { orphans: [{ column: 'customer_id', policy }] }, 'test', createPlanProbe(conn.source, conn.target), AT, () => true);
      return { plan: approvePlan(next, 'test', AT), analysis: p.analysis };
    };
    /** Parents a test needs migrated first, each checked so a broken arrangement fails loudly. */
    const migrated = async (...tables: Array<'employees' | 'customers' | 'invoices'>) => {
      for (const t of tables) {
        const p = t === 'employees' ? employees() : t === 'invoices' ? await invoicesWith('set_null') : approved(t);
        const { run: r } = await run(p);
        expect(r.status === 'failed' ? `${t}: ${r.errorCode}: ${r.error}` : `${t}: ${r.status}`).toBe(`${t}: completed`);
      }
    };
    /** The approvals of a plan set, recorded as `ferry approve` would before it runs. */
    const recorded = async <P extends { plan: MigrationPlan; analysis: PlannedTable['analysis'] }>(plans: P[]): Promise<P[]> => {
      for (const p of plans) await store.savePlan(p.plan, p.analysis);
      return plans;
    };

    it('refuses a child whose parent has not been migrated, naming the parent and the command', async () => {
      const err = await run(approved('customers')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PARENT_NOT_MIGRATED' });
      const e = err as Error & { hint: string };
      expect(e.message).toContain('public.employees → public.employees');
      expect(e.message).toContain('it has never run');
      expect(e.hint).toContain(`ferry run .ferry/plans/${byTable('employees').plan.id}.json`);
      expect(await n('SELECT count(*) AS n FROM ferry_control.migration_control')).toBe(0);
    });

    it('migrates a self-reference exactly: rows first, then every reports_to through the mappings', async () => {
      const events: RunEvent[] = [];
      const { run: r, report } = await run(employees(), events);
      expect(r).toMatchObject({ status: 'completed', inserted: 8, batches: 3 });
      expect(events.filter((e) => e.type === 'self_reference_resolved')).toEqual([{ type: 'self_reference_resolved', column: 'reports_to', updated: 7, orphans: 0 }]);
      expect(await remapped('employees', 'reports_to', 'employees')).toEqual([
        [1, 5], [2, 5], [3, 1], [4, 1], [5, null], [6, 7], [7, 8], [8, 2],
      ]);
      expect(report?.status).toBe('passed');
      const fkCheck = report!.checks.find((c) => c.name === 'fk_integrity')!;
      expect(fkCheck).toMatchObject({ status: 'pass', problems: [] });
      expect(fkCheck.summary).toContain('8 reference(s) in reports_to');
      expect(report?.orphans).toEqual([]);
    });

    it('a second run inserts nothing and changes no reference', async () => {
      await migrated('employees');
      const events: RunEvent[] = [];
      const { run: r, report } = await run(employees(), events);
      expect(r).toMatchObject({ status: 'completed', inserted: 0, skipped: 8 });
      expect(events.filter((e) => e.type === 'self_reference_resolved')).toEqual([{ type: 'self_reference_resolved', column: 'reports_to', updated: 0, orphans: 0 }]);
      expect(report?.status).toBe('passed');
    });

    it('validation notices a reference that does not match the remap', async () => {
      await migrated('employees');
      const { run: r } = await run(approved('customers'));
      expect(r).toMatchObject({ status: 'completed', inserted: 6 });
      expect(await remapped('customers', 'support_rep_id', 'employees')).toEqual([[1, 3], [2, 4], [3, 3], [4, null], [5, 6], [6, 7]]);
      // Tamper with one migrated row behind ferry's back: Acme now points at Eve, not Cid.
      await fk.sql(
        'target',
        `UPDATE customers SET support_rep_id = (SELECT new_id::uuid FROM ferry_control.migration_mappings WHERE target_table = 'public.employees' AND legacy_id = '5') WHERE legacy_id = 1`,
      );
      const { validateMigration } = await import('../../src/validation/validate.js');
      const targetTable = byTable('customers').analysis.target.tables.find((t) => t.name === 'customers')!;
      const report = await validateMigration({ migrationId: r.migrationId, source: conn.source, target: conn.target, targetTable });
      const check = report.checks.find((c) => c.name === 'fk_integrity')!;
      expect(check.status).toBe('fail');
      expect(check.problems).toHaveLength(1);
      expect(check.problems[0]).toMatchObject({ legacyKey: '1', message: expect.stringContaining('support_rep_id = 3 maps to') });
      await fk.sql(
        'target',
        `UPDATE customers SET support_rep_id = (SELECT new_id::uuid FROM ferry_control.migration_mappings WHERE target_table = 'public.employees' AND legacy_id = '3') WHERE legacy_id = 1`,
      );
      expect((await validateMigration({ migrationId: r.migrationId, source: conn.source, target: conn.target, targetTable })).status).toBe('passed');
    });

    it('orphans under "fail": the run stops naming the orphan, and its batch leaves nothing behind', async () => {
      await migrated('employees', 'customers');
      const p = await invoicesWith('fail');
      const small = { ...p, plan: { ...p.plan, strategy: { ...p.plan.strategy, batchSize: 5 } } };
      const { run: r } = await run(small);
      expect(r.status).toBe('failed');
      if (r.status !== 'failed') return;
      expect(r).toMatchObject({ errorCode: 'FK_ORPHAN', key: '4', inserted: 0 });
      expect(r.error).toContain('customer_id ← customer_id = 99 has no mapping in public.customers → public.customers');
      expect(await counts()).toEqual({ employees: 8, customers: 6, invoices: 0, mappings: 14 });
      await rollbackMigration({ migrationId: r.migrationId, target: conn.target });
    });

    it('orphans under "set_null": written NULL, listed by legacy id in the report; the rest point at their remapped customer', async () => {
      await migrated('employees', 'customers');
      const { run: r, report } = await run(await invoicesWith('set_null'));
      expect(r).toMatchObject({ status: 'completed', inserted: 10 });
      expect(await remapped('invoices', 'customer_id', 'customers')).toEqual([
        [1, 1], [2, 1], [3, 2], [4, null], [5, 3], [6, 4], [7, 5], [8, null], [9, 6], [10, 6],
      ]);
      expect(report?.status).toBe('passed');
      expect(report?.orphans).toEqual([
        { column: 'customer_id', legacyKey: ORPHAN_INVOICES[0], legacyValue: '99', written: null, policy: 'set_null' },
        { column: 'customer_id', legacyKey: ORPHAN_INVOICES[1], legacyValue: '98', written: null, policy: 'set_null' },
      ]);
      expect(report?.checks.find((c) => c.name === 'fk_integrity')?.summary).toContain('2 orphan(s) (legacy keys 4, 8) written NULL');
      expect(await counts()).toEqual({ employees: 8, customers: 6, invoices: 10, mappings: 24 });
    });

    it('refuses to roll back a parent while a child run points at its rows; --cascade rolls back the children first', async () => {
      await migrated('employees', 'customers', 'invoices');
      const ids = async () =>
        Object.fromEntries(
          (await fk.sql('target', `SELECT target_table, id FROM ferry_control.migration_control WHERE status = 'completed' ORDER BY id`)).rows.map((x) => [x.target_table, Number(x.id)]),
        ) as Record<string, number>;
      const live = await ids();
      const employeesRun = (await fk.sql('target', `SELECT id FROM ferry_control.migration_control WHERE target_table = 'public.employees' AND rows_inserted = 8`)).rows[0]!.id as string;
      const err = await rollbackMigration({ migrationId: Number(employeesRun), target: conn.target }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ROLLBACK_HAS_DEPENDANTS' });
      expect((err as Error).message).toContain(`migration ${live['public.customers']} (public.customers.support_rep_id, 5 row(s))`);
      expect(await counts()).toEqual({ employees: 8, customers: 6, invoices: 10, mappings: 24 });

      const r = await rollbackMigration({ migrationId: live['public.customers']!, target: conn.target, cascade: true });
      expect(r).toMatchObject({ status: 'rolled_back', rowsDeleted: 6, mappingsDeleted: 6 });
      expect(r.cascaded).toEqual([{ migrationId: live['public.invoices'], status: 'rolled_back', rowsDeleted: 10, mappingsDeleted: 10, cascaded: [] }]);
      expect(await counts()).toEqual({ employees: 8, customers: 0, invoices: 0, mappings: 8 });

      // With its children gone the parent rolls back, self-references and all.
      expect(await rollbackMigration({ migrationId: Number(employeesRun), target: conn.target })).toMatchObject({ rowsDeleted: 8, mappingsDeleted: 8 });
      expect(await counts()).toEqual({ employees: 0, customers: 0, invoices: 0, mappings: 0 });
    });

    it('refuses a child whose parent was rolled back, naming the rolled-back run', async () => {
      // As a person gets there: employees run, run again (nothing to insert), then the run that wrote the rows rolled back.
      await migrated('employees', 'employees');
      const parent = (await fk.sql('target', `SELECT id FROM ferry_control.migration_control WHERE target_table = 'public.employees' AND rows_inserted = 8`)).rows[0]!.id as string;
      await rollbackMigration({ migrationId: Number(parent), target: conn.target });
      const err = await run(approved('customers')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PARENT_NOT_MIGRATED' });
      expect((err as Error).message).toMatch(/its rows were rolled back \(migration \d+\)/);
    });

    it('a plan set runs parents first, each with its own control row, and stops at the first failure', async () => {
      // On fresh databases the control tables appear with the first run.
      const controls = (await fk.sql('target', `SELECT to_regclass('ferry_control.migration_control') IS NOT NULL AS ok`)).rows[0]!.ok as boolean;
      const before = controls ? await n('SELECT count(*) AS n FROM ferry_control.migration_control') : 0;
      // Out of order on purpose: invoices before customers is refused, and customers never runs.
      const wrong = await executeRunSet({
        plans: await recorded([
          { ...employees(), dir: join(work, 'set-e') },
          { ...(await invoicesWith('set_null')), dir: join(work, 'set-i') },
          { ...approved('customers'), dir: join(work, 'set-c') },
        ]),
        store,
        conn,
        driver,
        policy: defaultPolicy,
        startedBy: 'test',
      });
      expect(wrong.status).toBe('failed');
      expect(wrong.steps).toHaveLength(2);
      expect(wrong.stoppedAt?.target.table).toBe('invoices');
      const refused = wrong.steps[1]!;
      expect('refused' in refused && refused.refused.code).toBe('PARENT_NOT_MIGRATED');
      expect(await n('SELECT count(*) AS n FROM ferry_control.migration_control')).toBe(before + 1);
      expect(await counts()).toEqual({ employees: 8, customers: 0, invoices: 0, mappings: 8 });

      const ok = await executeRunSet({
        plans: await recorded([
          { ...employees(), dir: join(work, 'set2-e') },
          { ...approved('customers'), dir: join(work, 'set2-c') },
          { ...(await invoicesWith('set_null')), dir: join(work, 'set2-i') },
        ]),
        store,
        conn,
        driver,
        policy: defaultPolicy,
        startedBy: 'test',
      });
      expect(ok.status).toBe('completed');
      expect(ok.steps.map((s) => ('result' in s ? [s.result.run.status, s.result.run.inserted, s.result.report?.status] : null))).toEqual([
        ['completed', 0, 'passed'],
        ['completed', 6, 'passed'],
        ['completed', 10, 'passed'],
      ]);
      expect(await n('SELECT count(*) AS n FROM ferry_control.migration_control')).toBe(before + 4);
      expect(await counts()).toEqual({ employees: 8, customers: 6, invoices: 10, mappings: 24 });
      expect(await remapped('employees', 'reports_to', 'employees')).toEqual([
        [1, 5], [2, 5], [3, 1], [4, 1], [5, null], [6, 7], [7, 8], [8, 2],
      ]);
    });

    it('a run resumed after a failure sets the references the failed run left NULL: nothing lost, nothing doubled', async () => {
      await migrated('employees');
      const holders = (await fk.sql('target', `SELECT DISTINCT migration_id FROM ferry_control.migration_mappings WHERE target_table = 'public.employees'`)).rows;
      expect(holders).toHaveLength(1);
      const first = holders[0]!.migration_id as string;
      await rollbackMigration({ migrationId: Number(first), target: conn.target, cascade: true });
      expect(await counts()).toEqual({ employees: 0, customers: 0, invoices: 0, mappings: 0 });

      const p = employees();
      const base = await generateScript({ plan: p.plan, analysis: p.analysis });
      const forged = base.program.replace(/export function transform\(row: SourceRow\): ProgramOutput \{/, (m) => `${m}\n  if (row.id === 5) throw new Error('forged failure');`);
      expect(forged).not.toBe(base.program);
      const script = await generateScript({ plan: p.plan, analysis: p.analysis, programOverride: forged });
      const bundle = await bundleScript(script, join(work, 'forged'));
      const failed = await runMigration({ plan: p.plan, analysis: p.analysis, bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy });
      expect(failed).toMatchObject({ status: 'failed', inserted: 3, key: '5' });
      // The first batch stays, its references still NULL: the second pass never ran.
      expect(await n('SELECT count(*) AS n FROM employees WHERE reports_to IS NULL')).toBe(3);

      const events: RunEvent[] = [];
      const { run: resumed, report } = await run(p, events);
      expect(resumed.status === 'failed' ? `${resumed.errorCode}: ${resumed.error}` : 'completed').toBe('completed');
      expect(resumed).toMatchObject({ status: 'completed', inserted: 5, skipped: 3 });
      expect(events.filter((e) => e.type === 'self_reference_resolved')).toEqual([{ type: 'self_reference_resolved', column: 'reports_to', updated: 7, orphans: 0 }]);
      expect(await remapped('employees', 'reports_to', 'employees')).toEqual([
        [1, 5], [2, 5], [3, 1], [4, 1], [5, null], [6, 7], [7, 8], [8, 2],
      ]);
      expect(await counts()).toEqual({ employees: 8, customers: 0, invoices: 0, mappings: 8 });
      expect(report?.status).toBe('passed');
    });
  });
});
