import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { applyOverrides, approvePlan, type PlanOverrides } from '../../agents/planning/index.js';
import type { GeneratedScript } from '../../src/core/artifacts/generated-script.js';
import { reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, targetTableOf, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { qualified, quoteIdent } from '../../src/core/sql.js';
import { planWhere } from '../../src/core/plan/filter-sql.js';
import { DEMO_DESCRIPTION, TECHNICIAN_ROLES } from '../../src/demo/seed-case.js';
import { deriveRow } from '../../src/core/plan/expected-row.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { loadTransform, type Transform } from './load.js';

/**
 * The reviewer's step, with the seed case's known answers: whatever the planner left open
 * (a role it could not place, a column it could not source) is decided the way the case
 * study's reviewer would. This suite tests the program written for the approved plan, not
 * the planner's coverage.
 */
async function review(plan: MigrationPlan, conn: Connections): Promise<MigrationPlan> {
  if (reviewItems(plan).length === 0) return plan;
  const overrides: PlanOverrides = { map: [], column: [] };
  for (const m of plan.enumMappings) {
    for (const v of m.values) {
      const expected = TECHNICIAN_ROLES.find(([name]) => name === v.source)?.[2];
      if (v.status === 'needs_review' && expected !== undefined) overrides.map?.push({ column: m.targetColumn, source: v.source ?? '', target: expected });
    }
  }
  const knownColumns: Record<string, string> = { role_name: 'name', abbreviation: 'abbrev' };
  for (const c of plan.columns) {
    const origin = knownColumns[c.target];
    if (c.status === 'needs_review' && origin !== undefined) overrides.column?.push({ target: c.target, origin });
  }
  return applyOverrides(plan, overrides, 'tester', createPlanProbe(conn.source, conn.target));
}

/**
 * The real chain up to the Code Interpreter: seed databases → analysis → plan (approved as
 * it stands) → program. The program must agree, row by row, with the orchestrator's own
 * evaluation of the plan, which checks every returned row before it is written.
 */
describe('Code Interpreter on the planned seed case', () => {
  let seed: SeedCase;
  let conn: Connections;
  let analysis: SchemaAnalysis;
  let plan: MigrationPlan;
  let script: GeneratedScript;
  let transform: Transform;
  let rows: Record<string, unknown>[];

  beforeAll(async () => {
    seed = await createSeedCase();
    conn = await openConnections(seed.legacy.url, seed.target.url);
    const planned = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
    analysis = planned.analysis;
    plan = approvePlan(await review(planned.plan, conn), 'tester');
    script = await generateScript({ plan, analysis });
    transform = await loadTransform(script);
    const where = planWhere(plan);
    const selected = await conn.source.query(
      `SELECT ${plan.source.columns.map(quoteIdent).join(', ')} FROM ${qualified(plan.source.schema, plan.source.table)} ${where.sql} ORDER BY ${quoteIdent(plan.source.key)}`,
      where.params,
    );
    // As the rows travel to the sandbox: JSON.
    rows = JSON.parse(JSON.stringify(selected.rows)) as Record<string, unknown>[];
  });
  afterAll(async () => {
    await conn?.close();
    await seed?.drop();
  });

  it('type-checks the program written for the approved plan', () => {
    expect(script.typecheck.ok).toBe(true);
    expect(script.program.match(/^ {2}\[.*\], +\/\/ \w+: /gm)).toHaveLength(TECHNICIAN_ROLES.length);
  });

  it('transforms every source row exactly as the orchestrator derives it from the plan', () => {
    expect(rows).toHaveLength(TECHNICIAN_ROLES.length);
    const target = targetTableOf(plan, analysis);
    for (const row of rows) {
      const expected = deriveRow(plan, target, row);
      if (!expected.ok) throw new Error(`the plan does not derive row ${String(row.id)}: ${expected.message}`);
      expect(transform(row)).toEqual(expected.row);
    }
  });

  it('maps each role name to the enum value a reviewer expects', () => {
    for (const row of rows) {
      const expected = TECHNICIAN_ROLES.find(([name]) => name === row.name)?.[2];
      expect({ name: row.name, role_type: transform(row).role_type }).toEqual({ name: row.name, role_type: expected });
    }
  });
});
