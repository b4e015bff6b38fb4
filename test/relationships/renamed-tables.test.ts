import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import type { PlanOverrides } from '../../agents/planning/review.js';
import { reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { renderPlan } from '../../src/present/render.js';
import { describeToPlan, describeToPlans, openConnections, prepareProgram, targetTableOf, type Connections } from '../../src/chain.js';
import { checkRelationships } from '../../src/validation/relationships.js';

import { RunStore } from '../../src/store/run-store.js';
import { executeRunForTest, executeRunSetForTest } from '../setup/execute.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createRenamedCase, HANDLERS, MANAGERS, SUPPORT_REPS, type RenamedCase } from './renamed-case.js';

/**
 * Relationships between tables whose new names differ from the old ones (issue 13): resolved
 * through what the planning knows (the plan set, completed migrations, the description's
 * words), never left NULL in silence, refused before the parent ran, and re-counted by
 * validation whatever the plan said.
 */
describe('relationships across renamed tables, on real PostgreSQL and Docker', () => {
  let driver: SandboxDriver;
  let work: string;
  let step = 0;
  beforeAll(async () => {
    driver = await dockerDriverForTests();
    work = await mkdtemp(join(tmpdir(), 'ferry-renamed-'));
  });
  /** One run store per target database, as the CLI keeps it (schema ferry of the target). */
  const stores = new Map<Connections, RunStore>();
  const targetUrls = new Map<Connections, string>();
  const connect = async (db: RenamedCase): Promise<Connections> => {
    const conn = await openConnections(db.legacy.url, db.target.url);
    targetUrls.set(conn, db.target.url);
    return conn;
  };
  const storeOf = async (conn: Connections) => {
    let store = stores.get(conn);
    if (!store) {
      store = await RunStore.open(targetUrls.get(conn)!);
      stores.set(conn, store);
    }
    return store;
  };
  afterAll(async () => {
    await Promise.allSettled([...stores.values()].map((s) => s.close()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  const col = (plan: MigrationPlan, name: string) => plan.columns.find((c) => c.target === name)!;
  const decide = async (conn: Connections, plan: MigrationPlan, o: PlanOverrides) =>
    approvePlan(await applyOverrides(plan, o, 'test', createPlanProbe(conn.source, conn.target), new Date(), () => true), 'test');
  const run = async (conn: Connections, plan: MigrationPlan, analysis: SchemaAnalysis) => {
    step += 1;
    const program = await prepareProgram({ plan, analysis, dir: join(work, `run${step}`) });
    return executeRunForTest(await storeOf(conn), { plan, analysis, program, conn, driver, policy: defaultPolicy });
  };
  /** Every migrated row's reference read back through both mappings: [legacy child key, legacy parent key]. */
  const remapped = async (db: RenamedCase, table: string, column: string, parentSource: string, parentTarget: string) =>
    (
      await db.sql(
        'target',
        `SELECT cm.legacy_id AS child, pm.legacy_id AS parent
           FROM ${table} t JOIN ferry_control.migration_mappings cm ON cm.target_table = 'public.${table}' AND cm.new_id = t.id::text
           LEFT JOIN ferry_control.migration_mappings pm ON pm.source_table = 'public.${parentSource}' AND pm.target_table = 'public.${parentTarget}' AND pm.new_id = t.${column}::text
          ORDER BY cm.legacy_id::int`,
      )
    ).rows.map((r) => [Number(r.child), r.parent === null ? null : Number(r.parent)]);
  const count = async (db: RenamedCase, sql: string) => Number((await db.sql('target', sql)).rows[0]!.n);

  describe('planned one table at a time, the child before its parent', () => {
    let db: RenamedCase;
    let conn: Connections;
    beforeAll(async () => {
      db = await createRenamedCase();
      conn = await connect(db);
    });
    afterAll(async () => {
      await conn?.close();
      await db?.drop();
    });

    let customersPlan: { plan: MigrationPlan; analysis: SchemaAnalysis };

    it('with nothing tying employee to staff_members, an unresolved reference is needs_review naming its candidate, not "stays NULL"', async () => {
      const { plan } = await describeToPlan({ description: 'move the rows from customer into customers', conn });
      const rep = col(plan, 'support_rep');
      expect(rep).toMatchObject({ status: 'needs_review', origin: { kind: 'default' } });
      expect(rep.reason).toContain('support_rep_id (an unused legacy FK to employee.emp_no)');
      expect(reviewItems(plan).join('\n')).toContain('support_rep');
      expect(() => approvePlan(plan, 'test')).toThrowError(expect.objectContaining({ code: 'PLAN_NEEDS_REVIEW' }));
      expect(plan.notCarried).toEqual([
        { column: 'support_rep_id', why: 'candidate for support_rep (needs review)' },
        { column: 'city', why: 'no column of customers matches it' },
        { column: 'fax', why: 'no column of customers matches it' },
      ]);

      const tickets = (await describeToPlan({ description: 'move the rows from ticket into tickets', conn })).plan;
      expect(col(tickets, 'handled_by')).toMatchObject({ status: 'needs_review' });
      expect(col(tickets, 'handled_by').reason).toContain('handled_by_id (its name matches handled_by');
    });

    it('with the description saying which legacy table became staff_members, it resolves through the mappings and says the parent has not run', async () => {
      customersPlan = await describeToPlan({ description: 'move the rows from customer into customers (support reps: employee became staff_members)', conn });
      const { plan } = customersPlan;
      expect(col(plan, 'support_rep').origin).toEqual({
        kind: 'via_mapping',
        source: 'support_rep_id',
        parent: { sourceTable: 'public.employee', targetTable: 'public.staff_members', refColumn: 'id' },
        onOrphan: 'fail',
      });
      expect(plan.parentTables).toEqual([
        expect.objectContaining({ sourceTable: 'public.employee', targetTable: 'public.staff_members', evidence: 'description', columns: ['support_rep'], parentMigrated: false }),
      ]);
      expect(plan.risk.reasons.join('\n')).toContain('PARENT_NOT_MIGRATED');
    });

    it('refuses to run the child before its parent, writing nothing', async () => {
      const err = await run(conn, approvePlan(customersPlan.plan, 'test'), customersPlan.analysis).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PARENT_NOT_MIGRATED', message: expect.stringContaining('public.employee → public.staff_members') });
      expect(await count(db, 'SELECT count(*) AS n FROM customers')).toBe(0);
    });

    it('resolves the self-reference whose name changed (reports_to → manager), names hire_date for hired_on, lists what stays behind', async () => {
      const { plan, analysis } = await describeToPlan({ description: 'move the rows from employee into staff_members', conn });
      const manager = col(plan, 'manager');
      expect(manager.origin).toMatchObject({ kind: 'via_mapping', source: 'reports_to', parent: { sourceTable: 'public.employee', targetTable: 'public.staff_members' } });
      expect(manager.reason).toContain('second pass');
      expect(plan.parentTables).toEqual([expect.objectContaining({ evidence: 'plan_set', parentMigrated: true, columns: ['manager'] })]);
      const hired = col(plan, 'hired_on');
      // The column language's rule: a date from the one timestamp of a similar name (issue 13's leftover).
      expect(hired).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'hire_date::date', reads: ['hire_date'] } });
      expect(hired.reason).toContain('hire_date (timestamp without time zone)');
      expect(plan.notCarried).toEqual([
        { column: 'address', why: 'no column of staff_members matches it' },
        { column: 'city', why: 'no column of staff_members matches it' },
        { column: 'state', why: 'no column of staff_members matches it' },
      ]);

      const shown = renderPlan(plan);
      expect(shown).toContain('Not carried (3 source column(s) no origin reads: they stay behind)');
      expect(shown).toMatch(/address\s+no column of staff_members matches it/);
      expect(shown).toContain('public.employee → public.staff_members for manager: plan_set');

      const approved = await decide(conn, plan, { column: [{ target: 'hired_on', origin: 'const:null' }] });
      const { run: r, report } = await run(conn, approved, analysis);
      expect(r).toMatchObject({ status: 'completed', inserted: 6 });
      expect(await remapped(db, 'staff_members', 'manager', 'employee', 'staff_members')).toEqual(MANAGERS);
      expect(report?.status).toBe('passed');
    });

    it('after the parent ran, the same child plan runs and every support rep is exact', async () => {
      const { run: r, report } = await run(conn, approvePlan(customersPlan.plan, 'test'), customersPlan.analysis);
      expect(r).toMatchObject({ status: 'completed', inserted: 9 });
      expect(await remapped(db, 'customers', 'support_rep', 'employee', 'staff_members')).toEqual(SUPPORT_REPS);
      expect(report?.status).toBe('passed');
    });

    it('planned after the parent ran, an undeclared _id reference resolves from migration_control; its orphan is listed by legacy key', async () => {
      const { plan, analysis } = await describeToPlan({ description: 'move the rows from ticket into tickets', conn });
      const handled = col(plan, 'handled_by');
      expect(handled).toMatchObject({ status: 'needs_review', origin: { kind: 'via_mapping', source: 'handled_by_id', onOrphan: 'needs_review' } });
      expect(handled.reason).toContain('no legacy FK is declared');
      expect(handled.reason).toContain('ticket_no 1003 → 999');
      expect(plan.parentTables).toEqual([expect.objectContaining({ evidence: 'migration_control', parentMigrated: true })]);
      expect(plan.notCarried).toEqual([{ column: 'opened_at', why: 'no column of tickets matches it' }]);

      const { run: r, report } = await run(conn, await decide(conn, plan, { orphans: [{ column: 'handled_by', policy: 'set_null' }] }), analysis);
      expect(r).toMatchObject({ status: 'completed', inserted: 5 });
      expect(await remapped(db, 'tickets', 'handled_by', 'employee', 'staff_members')).toEqual(HANDLERS);
      expect(report?.status).toBe('passed');
      expect(report?.orphans).toEqual([expect.objectContaining({ legacyKey: '1003' })]);
    });

    it('a plan forced to leave support_rep NULL runs, and validation fails naming every legacy key it dropped', async () => {
      const done = await db.sql('target', `SELECT id FROM ferry_control.migration_control WHERE target_table = 'public.customers' AND status = 'completed'`);
      await rollbackMigration({ migrationId: Number(done.rows[0]!.id), target: conn.target });
      const { plan, analysis } = await describeToPlan({ description: 'move the rows from customer into customers', conn });
      // With employee → staff_members completed, the planner resolves it from migration_control now...
      expect(col(plan, 'support_rep').origin).toMatchObject({ kind: 'via_mapping', source: 'support_rep_id' });
      expect(plan.parentTables).toEqual([expect.objectContaining({ evidence: 'migration_control' })]);
      // ...so the silent NULL of the issue is planted by hand, as a wrong plan would have it.
      const wrong: MigrationPlan = {
        ...plan,
        columns: plan.columns.map((c) =>
          c.target === 'support_rep' ? { ...c, origin: { kind: 'default' as const }, reason: 'no legacy column maps to it, so it stays NULL', confidence: 0.6, status: 'mapped' as const } : c,
        ),
        source: { ...plan.source, columns: plan.source.columns.filter((c) => c !== 'support_rep_id') },
      };
      const { run: r, report } = await run(conn, approvePlan(wrong, 'test'), analysis);
      expect(r).toMatchObject({ status: 'completed', inserted: 9 });
      expect(await count(db, 'SELECT count(*) AS n FROM customers WHERE support_rep IS NULL')).toBe(9);
      expect(report?.status).toBe('failed');
      const rel = report!.checks.find((c) => c.name === 'relationships')!;
      expect(rel.status).toBe('fail');
      expect(rel.summary).toContain('support_rep_id → public.employee: 0/7');
      const dropped = SUPPORT_REPS.filter(([, p]) => p !== null).map(([k]) => String(k)).sort();
      expect(rel.problems.map((p) => p.legacyKey).sort()).toEqual(dropped);
      expect(rel.problems[0]!.message).toContain('support_rep = NULL');
      // The other checks pass: each row is what that plan derives. Only the relationship count catches it.
      expect(report!.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['relationships']);

      // Read two rows at a time (every chunk boundary crossed), with one reference pointing at the wrong
      // parent instead of NULL: the same counts, and that row's message names the parent it points at.
      const [wrongKey, ownRep] = SUPPORT_REPS.find(([, p]) => p !== null)!;
      const otherRep = SUPPORT_REPS.map(([, p]) => p).find((p) => p !== null && p !== ownRep)!;
      await db.sql('target', `UPDATE customers c SET support_rep = m.new_id::uuid FROM ferry_control.migration_mappings m, ferry_control.migration_mappings cm
        WHERE m.source_table = 'public.employee' AND m.legacy_id = '${otherRep}' AND cm.source_table = 'public.customer' AND cm.legacy_id = '${wrongKey}' AND c.id = cm.new_id::uuid`);
      await conn.source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const again = await checkRelationships({ plan: wrong, source: conn.source, target: conn.target, targetTable: targetTableOf(wrong, analysis), chunkRows: 2 });
        expect(again.results).toEqual([expect.objectContaining({ sourceColumn: 'support_rep_id', withLegacyValue: 7, carried: 0, orphans: 0 })]);
        expect(again.problems.list.map((p) => p.legacyKey)).toEqual(dropped.sort((a, b) => Number(a) - Number(b)));
        const moved = again.problems.list.find((p) => p.legacyKey === String(wrongKey))!;
        expect(moved.message).toContain(`support_rep = the public.staff_members row of legacy ${otherRep}: the relationship was dropped`);
      } finally {
        await conn.source.query('ROLLBACK');
      }
    });
  });

  describe('planned together as a plan set', () => {
    let db: RenamedCase;
    let conn: Connections;
    beforeAll(async () => {
      db = await createRenamedCase();
      conn = await connect(db);
    });
    afterAll(async () => {
      await conn?.close();
      await db?.drop();
    });

    it('resolves every reference through the set, parents first whatever order the words use; refuses the reverse order; counts and references exact', async () => {
      const planned = (await describeToPlans({ description: 'migrate ticket to tickets, customer to customers and employee to staff_members', conn }))!;
      expect(planned.map((p) => `${p.plan.source.table}→${p.plan.target.table}`)).toEqual(['employee→staff_members', 'ticket→tickets', 'customer→customers']);
      const byTarget = (t: string) => planned.find((p) => p.plan.target.table === t)!;
      const staff = byTarget('staff_members').plan;
      expect(col(byTarget('customers').plan, 'support_rep').origin).toEqual({
        kind: 'via_mapping',
        source: 'support_rep_id',
        parent: { sourceTable: 'public.employee', targetTable: 'public.staff_members', refColumn: 'id', planId: staff.id },
        onOrphan: 'fail',
      });
      expect(byTarget('customers').plan.parentTables).toEqual([expect.objectContaining({ evidence: 'plan_set', parentMigrated: false })]);
      expect(col(byTarget('tickets').plan, 'handled_by').origin).toMatchObject({ kind: 'via_mapping', source: 'handled_by_id', parent: { planId: staff.id } });
      expect(col(staff, 'manager').origin).toMatchObject({ kind: 'via_mapping', source: 'reports_to' });

      const ready = [
        { ...byTarget('staff_members'), plan: await decide(conn, staff, { column: [{ target: 'hired_on', origin: 'const:null' }] }) },
        { ...byTarget('tickets'), plan: await decide(conn, byTarget('tickets').plan, { orphans: [{ column: 'handled_by', policy: 'set_null' }] }) },
        { ...byTarget('customers'), plan: approvePlan(byTarget('customers').plan, 'test') },
      ].map((p, i) => ({ ...p, dir: join(work, `set${i}`) }));

      const reversed = await executeRunSetForTest({ plans: [ready[2]!, ready[0]!], store: await storeOf(conn), conn, driver, policy: defaultPolicy, startedBy: 'test' });
      expect(reversed.status).toBe('failed');
      const first = reversed.steps[0]!;
      expect('refused' in first && first.refused.code).toBe('PARENT_NOT_MIGRATED');
      expect(await count(db, 'SELECT count(*) AS n FROM ferry_control.migration_control')).toBe(0);

      const done = await executeRunSetForTest({ plans: ready, store: await storeOf(conn), conn, driver, policy: defaultPolicy, startedBy: 'test' });
      expect(done.status).toBe('completed');
      expect(done.steps.map((s) => ('result' in s ? s.result.report?.status : 'refused'))).toEqual(['passed', 'passed', 'passed']);
      expect(await count(db, 'SELECT count(*) AS n FROM staff_members')).toBe(6);
      expect(await count(db, 'SELECT count(*) AS n FROM customers')).toBe(9);
      expect(await count(db, 'SELECT count(*) AS n FROM tickets')).toBe(5);
      expect(await count(db, 'SELECT count(*) AS n FROM ferry_control.migration_mappings')).toBe(20);
      expect(await remapped(db, 'staff_members', 'manager', 'employee', 'staff_members')).toEqual(MANAGERS);
      expect(await remapped(db, 'customers', 'support_rep', 'employee', 'staff_members')).toEqual(SUPPORT_REPS);
      expect(await remapped(db, 'tickets', 'handled_by', 'employee', 'staff_members')).toEqual(HANDLERS);
    });
  });
});
