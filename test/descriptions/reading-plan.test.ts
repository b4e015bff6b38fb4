import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { readingHash } from '../../src/core/artifacts/description-reading.js';
import { readingItems, reviewItems } from '../../src/core/artifacts/migration-plan.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { renderPlan } from '../../src/present/render.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { SCHEMA_PAIRS } from './schemas.js';

/** The reading on real plans: recorded and hashed, shown, its unread words blocking approval until acknowledged. */
describe('a description read word by word, on the plan', () => {
  const dbs: TestDatabase[] = [];
  let music: Connections;
  let seed: SeedCase;
  let caseConn: Connections;

  beforeAll(async () => {
    const pair = SCHEMA_PAIRS.find((p) => p.name === 'music')!;
    const [src, tgt] = [await createTestDatabase('reading_src'), await createTestDatabase('reading_tgt')];
    dbs.push(src, tgt);
    await pair.createSource(src.url);
    await pair.createTarget(tgt.url);
    music = await openConnections(src.url, tgt.url);
    seed = await createSeedCase();
    caseConn = await openConnections(seed.legacy.url, seed.target.url);
  });
  afterAll(async () => {
    await Promise.allSettled([music?.close(), caseConn?.close()]);
    await seed?.drop();
    await Promise.allSettled(dbs.map((d) => d.drop()));
  });

  it('records the reading (hashed), reads filters and a derivation, and blocks approval on unread words until acknowledged', async () => {
    const description = 'Move the active employees hired before 2025 into staff_members, full name from first and last name, and keep their titles';
    const { plan } = await describeToPlan({ description, conn: music });
    expect(plan.source.filters).toEqual(expect.arrayContaining([{ column: 'is_active', op: '=', value: true }, { column: 'hire_date', op: '<', value: '2025-01-01' }]));
    expect(plan.source.filters).toHaveLength(2);
    const reading = plan.reading!;
    expect(reading.hash).toBe(readingHash(reading.artifact));
    expect(reading.artifact.tables).toEqual([{ source: 'public.employee', target: 'public.staff_members' }]);
    const items = readingItems(plan);
    // The derivation the words ask for is the one the whole-name rule proposes: the column
    // carries it, mapped, and no second decision asks for it again.
    expect(reading.artifact.spans.some((s) => s.binding.kind === 'derivation' && s.text.includes('full name from first and last name'))).toBe(true);
    expect(plan.columns.find((c) => c.target === 'full_name')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: "first_name || ' ' || last_name" } });
    expect(items.some((i) => i.includes('--column full_name='))).toBe(false);
    const unread = reading.artifact.spans.findIndex((s) => s.binding.kind === 'unread');
    expect(reading.artifact.spans[unread]!.text).toBe('and keep their titles');
    expect(items.some((i) => i.includes('"and keep their titles"') && i.includes(`--ack ${unread + 1}`))).toBe(true);
    expect(() => approvePlan(plan, 'reviewer')).toThrow(/keep their titles/);
    expect(renderPlan(plan)).toContain(`#${unread + 1} ⚠ "and keep their titles"`);

    const probe = createPlanProbe(music.source, music.target);
    const next = await applyOverrides(plan, { ack: [unread + 1] }, 'reviewer', probe);
    expect(readingItems(next).some((i) => i.includes('keep their titles'))).toBe(false);
    expect(reviewItems(next).length).toBe(reviewItems(plan).length - 1);
    expect(next.overrides.map((o) => o.what)).toContain(`description words #${unread + 1} "and keep their titles" acknowledged: the plan does not act on them`);
    const filler = reading.artifact.spans.findIndex((s) => s.binding.kind === 'filler');
    await expect(applyOverrides(plan, { ack: [filler + 1] }, 'reviewer', probe)).rejects.toMatchObject({ code: 'OVERRIDE_UNKNOWN_ACK' });
  });

  it('applies "map X to Y" as --map would, and resolves a group named by its label, shown with it', async () => {
    const { plan } = await describeToPlan({ description: 'Migrate the technician roles of group Technicians from dispatch_role into technician_roles but map Supervisor to remote', conn: caseConn });
    expect(plan.source.filters).toEqual([{ column: 'group_id', op: '=', value: 11 }]);
    const filter = plan.reading!.artifact.spans.find((s) => s.binding.kind === 'filter')!;
    expect(filter.binding).toMatchObject({ shown: 'group_id = 11 ("Technicians" in dispatch_group.name)' });
    const supervisor = plan.enumMappings.flatMap((m) => m.values).find((v) => v.source === 'Supervisor')!;
    expect(supervisor).toMatchObject({ target: 'remote', status: 'overridden' });
    expect(plan.overrides.some((o) => o.by === 'the description' && o.what.includes('"Supervisor" → remote'))).toBe(true);
    expect(plan.revision).toBe(1);
  });

  it('turns a value map the data refutes into a review item saying why, never dropping it', async () => {
    const { plan } = await describeToPlan({ description: 'Migrate the technician roles of group 11 from dispatch_role into technician_roles, map Warehouse Lead to remote', conn: caseConn });
    const span = plan.reading!.artifact.spans.find((s) => s.text.includes('Warehouse Lead'))!;
    expect(span.binding).toMatchObject({ kind: 'unread' });
    expect(readingItems(plan).some((i) => i.includes('map Warehouse Lead to remote') && i.includes('no enum mapping has the source value'))).toBe(true);
  });
});
