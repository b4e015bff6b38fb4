import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { DEMO_DESCRIPTION, TECHNICIAN_ROLES } from '../../src/demo/seed-case.js';
import { FerryError } from '../../src/core/errors.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';

const EARLIEST_TECHNICIAN = '72c23a3d-1f5e-4830-8fec-07e631f56f2e';

describe('Planning the seed case', () => {
  let seed: SeedCase;
  let conn: Connections;
  let plan: MigrationPlan;
  beforeAll(async () => {
    seed = await createSeedCase();
    conn = await openConnections(seed.legacy.url, seed.target.url);
    plan = (await describeToPlan({ description: DEMO_DESCRIPTION, conn })).plan;
  });
  afterAll(async () => {
    await conn?.close();
    await seed?.drop();
  });

  it('reads source, filter and target from the description', () => {
    expect(plan.source).toMatchObject({ table: 'dispatch_role', key: 'id', filters: [{ column: 'group_id', op: '=', value: 11 }], rowCount: 31 });
    expect(plan.target).toMatchObject({ table: 'technician_roles', primaryKey: 'id' });
    expect(plan.status).toBe('draft');
  });

  it('gives every target column an origin with a reason', () => {
    const origin = Object.fromEntries(plan.columns.map((c) => [c.target, c.origin]));
    expect(origin).toEqual({
      id: { kind: 'generated_uuid' },
      technician_id: { kind: 'foreign_key' },
      role_type: { kind: 'enum_map', source: 'name' },
      role_name: { kind: 'copy', source: 'name' },
      abbreviation: { kind: 'copy', source: 'abbrev' },
      is_active: { kind: 'default' },
      assigned_at: { kind: 'default' },
      legacy_role_id: { kind: 'copy', source: 'id' },
    });
    for (const c of plan.columns) expect(c.reason.length).toBeGreaterThan(5);
  });

  it('maps every role to the enum value a reviewer expects, each with its rule, and flags nothing', () => {
    const m = plan.enumMappings[0]!;
    expect(m.values).toHaveLength(31);
    for (const [name, , expected] of TECHNICIAN_ROLES) {
      const v = m.values.find((x) => x.source === name)!;
      expect({ name, target: v.target }).toEqual({ name, target: expected });
      expect(v.rule).not.toBeNull();
      expect(v.confidence).toBeGreaterThan(0.5);
    }
    expect(reviewItems(plan)).toEqual([]);
  });

  it('makes the technician_id decision explicit: strategy, chosen profile, candidates, why', () => {
    const fk = plan.foreignKeys[0]!;
    expect(fk).toMatchObject({ column: 'technician_id', refTable: 'profiles', strategy: 'fixed_value', value: EARLIEST_TECHNICIAN, candidateCount: 3 });
    expect(fk.candidateFilter).toContain("profile_type = 'technician'");
    expect(fk.reason).toMatch(/earliest/);
    expect(plan.risk.reasons.join(' ')).toMatch(/technician_id/);
    expect(plan.strategy.dependencies).toEqual(['profiles']);
  });

  it('sends "Master Technician" to master, and flags an unknown role instead of defaulting it', async () => {
    await seed.sql('legacy', `INSERT INTO dispatch_role (name, abbrev, type, group_id) VALUES ('Master Technician', 'MST', 'technician', 11), ('Night Shift Janitor', 'NSJ', 'technician', 11)`);
    try {
      const p = (await describeToPlan({ description: DEMO_DESCRIPTION, conn })).plan;
      const values = p.enumMappings[0]!.values;
      expect(values.find((v) => v.source === 'Master Technician')).toMatchObject({ target: 'master', status: 'mapped' });
      expect(values.find((v) => v.source === 'Night Shift Janitor')).toMatchObject({ target: null, status: 'needs_review' });
      expect(p.risk.level).toBe('high');
      expect(() => approvePlan(p, 'tester')).toThrowError(/Night Shift Janitor/);

      const probe = createPlanProbe(conn.source, conn.target);
      await expect(applyOverrides(p, { map: [{ source: 'Night Shift Janitor', target: 'janitor' }] }, 'tester', probe)).rejects.toThrowError(
        /not a value of .*technician_type[\s\S]*/,
      );
      const fixed = await applyOverrides(p, { map: [{ source: 'Night Shift Janitor', target: 'quality_control' }] }, 'tester', probe);
      expect(fixed.revision).toBe(2);
      expect(fixed.overrides[0]?.what).toMatch(/Night Shift Janitor/);
      expect(approvePlan(fixed, 'tester').status).toBe('approved');
    } finally {
      await seed.sql('legacy', `DELETE FROM dispatch_role WHERE name IN ('Master Technician', 'Night Shift Janitor')`);
    }
  });

  it('refuses an FK override that names no parent row', async () => {
    const probe = createPlanProbe(conn.source, conn.target);
    await expect(applyOverrides(plan, { fk: [{ column: 'technician_id', value: '00000000-0000-4000-8000-000000000000' }] }, 't', probe)).rejects.toMatchObject({
      code: 'OVERRIDE_UNKNOWN_PARENT',
    });
    const ok = await applyOverrides(plan, { fk: [{ column: 'technician_id', value: '5d1f0c2e-7b3a-4e8f-9c6d-1a2b3c4d5e02' }] }, 't', probe);
    expect(ok.foreignKeys[0]).toMatchObject({ value: '5d1f0c2e-7b3a-4e8f-9c6d-1a2b3c4d5e02', status: 'overridden' });
  });

  it('names the closest tables when the description names one that does not exist', async () => {
    // "dispatch_roles" is read as dispatch_role now (plural of a table's name, issue 15): a name no table has is refused as written.
    const err = await describeToPlan({ description: 'Migrate roles from dispatch_roles_v2 into technician_roles', conn }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect(err).toMatchObject({ code: 'TABLE_NOT_FOUND' });
    expect((err as Error).message).toMatch(/read "dispatch_roles_v2" as the source table because it follows "from"/);
    expect((err as Error).message).toMatch(/closest: dispatch_role/);
  });

  it('says which part of a description it could not read, with an example phrasing', async () => {
    const err = await describeToPlan({ description: 'please move the stuff over', conn }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DESCRIPTION_NOT_UNDERSTOOD' });
    expect((err as FerryError).hint).toContain('from dispatch_role into technician_roles');
  });
});
