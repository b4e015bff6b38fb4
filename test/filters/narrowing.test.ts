import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan, type PlanOverrides } from '../../agents/planning/index.js';
import { reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, prepareProgram, targetTableOf, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { renderPlan } from '../../src/present/render.js';
import { diffPlans } from '../../src/review/plan-diff.js';
import { RunStore } from '../../src/store/run-store.js';
import { validateMigration } from '../../src/validation/validate.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createWorkshopCase, MT_TRADES, WORKSHOP_DESCRIPTION } from './workshop-case.js';

/**
 * Issue 14's row side on a schema of our own: 16 flagged values sharing a prefix mapped by one
 * glob, a trade that must not move excluded, NULL trades left out, a --where predicate reading
 * a parent's column through the legacy FK; the plan recounted, run in the Docker sandbox and
 * validated row by row under the same filter.
 */
describe('narrowing the rows and many values at once, on real PostgreSQL and Docker', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let driver: SandboxDriver;
  let work: string;
  let drafted: { plan: MigrationPlan; analysis: SchemaAnalysis };
  beforeAll(async () => {
    db = await createWorkshopCase();
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    driver = await dockerDriverForTests();
    work = await mkdtemp(join(tmpdir(), 'ferry-narrowing-'));
    drafted = await describeToPlan({ description: WORKSHOP_DESCRIPTION, conn });
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const apply = (plan: MigrationPlan, o: PlanOverrides) => applyOverrides(plan, o, 'tester', createPlanProbe(conn.source, conn.target), new Date(), () => true, drafted.analysis);
  const refusal = (p: Promise<unknown>) => p.then(() => ({ code: 'NONE', message: 'not refused', hint: '' }), (e: { code: string; message: string; hint?: string }) => ({ code: e.code, message: e.message, hint: e.hint ?? '' }));
  const flagged = (plan: MigrationPlan) => plan.enumMappings[0]!.values.filter((v) => v.status === 'needs_review').map((v) => v.source);
  const value = (plan: MigrationPlan, source: string | null) => plan.enumMappings[0]!.values.find((v) => v.source === source);

  it('flags the 16 MT- trades, the volunteer trade and the NULLs, each with commands the CLI accepts', () => {
    const { plan } = drafted;
    expect(plan.enumMappings.map((m) => `${m.sourceColumn}→${m.targetColumn}`)).toEqual(['trade→craft']);
    expect(flagged(plan).sort()).toEqual([...MT_TRADES, 'MT*Special', 'Volunteer', null].sort());
    const items = reviewItems(plan).join('\n');
    expect(items).toContain('source value NULL (2 rows)');
    expect(items).toContain('--map-null craft=<manufacturing|logistics|office> — or: ferry approve <plan> --exclude-null trade');
    expect(items).not.toContain('--map "=');
    // A value spelled with * is escaped, so the glob reads it back as that one value.
    expect(items).toContain(`--map 'MT\\*Special'=<manufacturing|logistics|office>`);
  });

  it('a glob maps the 16 flagged MT- values in one override and lists them; MT*Special does not match', async () => {
    const next = await apply(drafted.plan, { map: [{ source: 'MT-*', target: 'manufacturing' }] });
    for (const t of MT_TRADES) expect(value(next, t)).toMatchObject({ target: 'manufacturing', status: 'overridden', rule: 'override' });
    expect(flagged(next).sort()).toEqual(['MT*Special', 'Volunteer', null].sort());
    const note = next.overrides.at(-1)!.what;
    expect(note).toContain('"MT-*" → manufacturing for 16 flagged value(s)');
    for (const t of MT_TRADES) expect(note).toContain(JSON.stringify(t));
    expect(note).not.toContain('MT*Special');
  });

  it('refuses a glob that matches no flagged value, naming the flagged ones, and one that only matches mapped values', async () => {
    const none = await refusal(apply(drafted.plan, { map: [{ source: 'QX-*', target: 'office' }] }));
    expect(none.code).toBe('OVERRIDE_GLOB_NO_MATCH');
    expect(none.hint).toContain('"MT-Polishing"');
    expect(none.hint).toContain('"Volunteer"');
    const mappedOnly = await refusal(apply(drafted.plan, { map: [{ source: '?ogistics', target: 'office' }] }));
    expect(mappedOnly.code).toBe('OVERRIDE_GLOB_NO_MATCH');
    expect(mappedOnly.message).toContain('"Logistics", "logistics", already mapped');
    const emptySource = await refusal(apply(drafted.plan, { map: [{ source: '', target: 'office' }] }));
    expect(emptySource).toMatchObject({ code: 'OVERRIDE_UNKNOWN_VALUE', hint: expect.stringContaining('--map-null') });
    const notBoolean = await refusal(apply(drafted.plan, { where: ['display_name'] }));
    expect(notBoolean).toMatchObject({ code: 'FILTER_NOT_BOOLEAN', message: expect.stringContaining('a text, not a condition') });
    const unknownColumn = await refusal(apply(drafted.plan, { where: ['shoe_size > 40'] }));
    expect(unknownColumn.code).toBe('EXPR_UNKNOWN_COLUMN');
    const everything = await refusal(apply(drafted.plan, { where: ["started < '1900-01-01'"] }));
    expect(everything).toMatchObject({ code: 'FILTER_LEAVES_NO_ROWS', message: expect.stringContaining('(40 before)') });
  });

  it('a NULL trade can be mapped with --map-null', async () => {
    const next = await apply(drafted.plan, { mapNull: [{ target: 'office' }] });
    expect(value(next, null)).toMatchObject({ target: 'office', status: 'overridden' });
    expect(next.overrides.at(-1)!.what).toBe('craft: NULL → office (was unresolved)');
  });

  describe('excluded, narrowed, run and validated', () => {
    let approved: MigrationPlan;
    let expectedKeys: number[];
    beforeAll(async () => {
      const r2 = await apply(drafted.plan, { map: [{ source: 'MT-*', target: 'manufacturing' }] });
      const r3 = await apply(r2, {
        // Matches MT*Special (flagged) and the 16 mapped ones, which stay as they are.
        map: [{ source: 'MT*', target: 'manufacturing' }],
        exclude: [{ source: 'Volunteer' }],
        excludeNull: ['craft'],
        where: ["started >= '2015-06-01' OR site.site_name = 'South hall'"],
      });
      approved = approvePlan(r3, 'tester');
      // The rows that must move, computed here by hand in SQL.
      const r = await db.sql(
        'legacy',
        `SELECT w.staff_no FROM workshop_staff w JOIN site s ON s.site_code = w.site_code
          WHERE w.trade IS NOT NULL AND w.trade <> 'Volunteer' AND (w.started >= DATE '2015-06-01' OR s.site_name = 'South hall') ORDER BY 1`,
      );
      expectedKeys = r.rows.map((x) => Number(x.staff_no));
    });

    it('records the three conditions in the filter, recounts the estimate, and nothing is left to review', () => {
      expect(approved.source.filters).toEqual([
        { op: 'exclude', column: 'trade', values: ['Volunteer'] },
        { column: 'trade', op: 'is_not_null' },
        { op: 'where', predicate: expect.objectContaining({ source: "started >= '2015-06-01' OR site.site_name = 'South hall'" }) },
      ]);
      expect(expectedKeys).toHaveLength(30);
      expect(approved.source.rowCount).toBe(30);
      expect(reviewItems(approved)).toEqual([]);
      // Values no row carries any more left the mapping; the others were recounted under the filter.
      expect(value(approved, 'Volunteer')).toBeUndefined();
      expect(value(approved, null)).toBeUndefined();
      expect(value(approved, 'MT-Polishing')!.count).toBe(1);
      expect(value(approved, 'MT-Milling')!.count).toBe(2);
      const notes = approved.overrides.map((o) => o.what).join('\n');
      expect(notes).toContain('"MT*" → manufacturing for 1 flagged value(s): "MT*Special"; it also matches "MT-Anodizing"');
      expect(notes).toContain('left as they are');
      expect(notes).toContain('filter: leave out rows whose trade is "Volunteer"');
      expect(notes).toContain('filter: leave out rows whose trade is NULL');
      expect(notes).toContain('rows to move: 40 → 30; no row left with craft "Volunteer", NULL (no longer to review)');
    });

    it('ferry show and the revision diff show the exclusions', () => {
      const shown = renderPlan(approved);
      expect(shown).toContain(`trade NOT IN ("Volunteer") (NULL kept) AND trade IS NOT NULL AND (started >= '2015-06-01' OR site.site_name = 'South hall')`);
      const diff = diffPlans(drafted.plan, approved);
      expect(diff).toContainEqual(expect.objectContaining({ subject: 'rows that move', from: 'all rows (40 rows)' }));
      expect(diff).toContainEqual({ area: 'enum_value', subject: 'craft: "Volunteer"', from: 'unresolved (2 rows)', to: '(no rows left under the filter)' });
    });

    it('runs in the Docker sandbox moving exactly those rows, and validation (both methods) agrees under the same filter', async () => {
      const program = await prepareProgram({ plan: approved, analysis: drafted.analysis, dir: join(work, 'run1') });
      expect(program.script.typecheck.ok).toBe(true);
      const { run, report } = await executeRunForTest(store, { plan: approved, analysis: drafted.analysis, program, conn, driver, policy: defaultPolicy });
      expect(run).toMatchObject({ status: 'completed', sourceRows: 30, inserted: 30 });
      expect(run.sandbox).toMatchObject({ driver: 'docker', exitReason: 'ok', rowsIn: 30, rowsOut: 30 });
      expect(report?.status).toBe('passed');
      expect(report?.counts).toMatchObject({ source: 30, migrated: 30, mappings: 30 });
      const moved = await db.sql('target', `SELECT legacy_id::int AS k FROM ferry_control.migration_mappings WHERE source_table = 'public.workshop_staff' ORDER BY 1`);
      expect(moved.rows.map((x) => x.k)).toEqual(expectedKeys);
      const crafts = await db.sql('target', 'SELECT craft::text AS c, count(*)::int AS n FROM crew_members GROUP BY 1 ORDER BY 1');
      expect(crafts.rows).toEqual([
        { c: 'logistics', n: 2 },
        { c: 'manufacturing', n: 27 },
        { c: 'office', n: 1 },
      ]);
      const walked = await validateMigration({ migrationId: run.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(approved, drafted.analysis), method: 'row_walk' });
      expect(walked.status).toBe('passed');

      // An excluded row planted in the target, with its mapping: validation's source side leaves it out too, so it is found.
      const planted = await db.sql('target', `INSERT INTO crew_members (display_name, craft) VALUES ('Di Vale', 'office') RETURNING id::text AS id`);
      await db.sql(
        'target',
        `INSERT INTO ferry_control.migration_mappings (source_table, target_table, legacy_id, new_id, migration_id, batch_id) VALUES ('public.workshop_staff', 'public.crew_members', '204', $1, $2, 1)`,
        [planted.rows[0]!.id, run.migrationId],
      );
      const after = await validateMigration({ migrationId: run.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(approved, drafted.analysis) });
      expect(after.status).toBe('failed');
      expect(JSON.stringify(after.checks)).toContain('204');
    });
  });
});
