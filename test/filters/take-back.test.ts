import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, type PlanOverrides } from '../../agents/planning/index.js';
import { MigrationPlan, reviewItems } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from './workshop-case.js';

/**
 * A reviewer takes back, in a later revision, what an earlier one left out: --unwhere (a
 * predicate as written, or by the same tree with other spacing and case; "*" for all),
 * --include (an excluded value or a glob over them), --include-null. The plan is recounted, and
 * enum values that come back are decided again by the rules, what they cannot decide left to
 * review. On the workshop schema (not the case study), checked against SQL written by hand.
 */
describe('taking back --where / --exclude / --exclude-null in a later revision', () => {
  let db: DatabasePair;
  let conn: Connections;
  let drafted: { plan: MigrationPlan; analysis: SchemaAnalysis };
  beforeAll(async () => {
    db = await createWorkshopCase();
    conn = await openConnections(db.legacy.url, db.target.url);
    drafted = await describeToPlan({ description: WORKSHOP_DESCRIPTION, conn });
  });
  afterAll(async () => {
    await conn?.close();
    await db?.drop();
  });

  const apply = (plan: MigrationPlan, o: PlanOverrides) => applyOverrides(plan, o, 'tester', createPlanProbe(conn.source, conn.target), new Date(), () => true, drafted.analysis);
  const refusal = (p: Promise<unknown>) => p.then(() => ({ code: 'NONE', message: 'not refused', hint: '' }), (e: { code: string; message: string; hint?: string }) => ({ code: e.code, message: e.message, hint: e.hint ?? '' }));
  const count = async (where: string) => Number((await db.sql('legacy', `SELECT count(*) AS n FROM workshop_staff w JOIN site s ON s.site_code = w.site_code WHERE ${where}`)).rows[0].n);
  const value = (plan: MigrationPlan, source: string | null) => plan.enumMappings[0]!.values.find((v) => v.source === source);

  it('replaces a predicate, brings back excluded values and NULLs (decided again, left to review), and takes back every predicate with "*"', async () => {
    const r2 = await apply(drafted.plan, {
      map: [{ source: 'MT*', target: 'manufacturing' }],
      exclude: [{ source: 'Volunteer' }],
      excludeNull: ['craft'],
      where: ["started >= '2015-06-01' OR site.site_name = 'South hall'"],
    });
    expect(r2.source.rowCount).toBe(await count("w.trade IS NOT NULL AND w.trade <> 'Volunteer' AND (w.started >= DATE '2015-06-01' OR s.site_name = 'South hall')"));
    expect(value(r2, 'Volunteer')).toBeUndefined();
    expect(reviewItems(r2)).toEqual([]);

    // The same predicate written with other spacing and keyword case names it; the new one replaces it in one revision.
    const r3 = await apply(r2, { unwhere: ["started>='2015-06-01'  or  SITE.site_name = 'South hall'"], where: ['site.closed = false'] });
    expect(r3.source.filters.filter((f) => f.op === 'where').map((f) => (f.op === 'where' ? f.predicate.source : ''))).toEqual(['site.closed = false']);
    expect(r3.source.rowCount).toBe(await count("w.trade IS NOT NULL AND w.trade <> 'Volunteer' AND NOT s.closed"));
    const notes3 = r3.overrides.slice(r2.overrides.length).map((o) => o.what);
    expect(notes3[0]).toBe(`filter: no longer only rows where started >= '2015-06-01' OR site.site_name = 'South hall' (--unwhere "started>='2015-06-01'  or  SITE.site_name = 'South hall'")`);
    expect(notes3).toContain('filter: only rows where site.closed = false');

    // Excluded values and NULLs come back: recounted, and decided again by the rules (here: nothing decides them).
    const r4 = await apply(r3, { include: [{ source: 'Vol*' }], includeNull: ['craft'] });
    expect(r4.source.filters.map((f) => f.op)).toEqual(['where']);
    expect(r4.source.rowCount).toBe(await count('NOT s.closed'));
    expect(value(r4, 'Volunteer')).toMatchObject({ status: 'needs_review', count: 1, target: null });
    expect(value(r4, null)).toMatchObject({ status: 'needs_review', count: 1 });
    const notes4 = r4.overrides.slice(r3.overrides.length).map((o) => o.what);
    expect(notes4).toContain('filter: rows whose trade is "Volunteer" move again (--include "Vol*")');
    expect(notes4).toContain('filter: rows whose trade is NULL move again (--include-null craft)');
    expect(notes4.at(-1)).toContain('values back under the filter, decided by rule: craft "Volunteer" back (1 rows) → needs review, NULL back (1 rows) → needs review');
    const items = reviewItems(r4).join('\n');
    expect(items).toContain('source value "Volunteer" (1 rows)');
    expect(items).toContain('source value NULL (1 rows)');

    // "*": every --where taken back; the whole table again.
    const r5 = await apply(r4, { unwhere: ['*'] });
    expect(r5.source.filters).toEqual([]);
    expect(r5.source.rowCount).toBe(40);
    expect(value(r5, 'Volunteer')!.count).toBe(2);
  });

  it('refuses to take back what the plan does not leave out, naming what it does; nothing is changed', async () => {
    const r2 = await apply(drafted.plan, { exclude: [{ source: 'Volunteer' }], where: ['site.closed = false'] });
    const unknownWhere = await refusal(apply(r2, { unwhere: ['started IS NULL'] }));
    expect(unknownWhere).toMatchObject({ code: 'OVERRIDE_UNKNOWN_FILTER', hint: expect.stringContaining('--unwhere "site.closed = false"') });
    const unknownValue = await refusal(apply(r2, { include: [{ source: 'Office' }] }));
    expect(unknownValue).toMatchObject({ code: 'OVERRIDE_UNKNOWN_VALUE', hint: 'excluded values: "Volunteer"' });
    const noNulls = await refusal(apply(r2, { includeNull: ['craft'] }));
    expect(noNulls).toMatchObject({ code: 'OVERRIDE_UNKNOWN_FILTER', message: expect.stringContaining('does not leave out rows whose trade is NULL') });
    const none = await refusal(apply(drafted.plan, { unwhere: ['*'] }));
    expect(none).toMatchObject({ code: 'OVERRIDE_UNKNOWN_FILTER', hint: expect.stringContaining('it has none') });
  });

  it('at the terminal: a later `ferry approve` takes back a --where and an --exclude; the revision lists it, ferry show no longer shows them', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ferry-take-back-'));
    try {
      const env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'cli-test');
      const help = await runFerry(env, ['approve', '--help']);
      expect(help.stdout).toMatch(/--unwhere "<predicate>"\|"\*"/);
      expect(help.stdout).toContain('--include-null <column>');
      const planned = await runFerry(env, ['plan', WORKSHOP_DESCRIPTION]);
      expect(planned.code).toBe(0);
      const planPath = /Plan written to (\S+\.json)/.exec(planned.stdout)![1]!;
      const first = await runFerry(env, ['approve', planPath, '--map', 'MT*=manufacturing', '--exclude', 'Volunteer', '--exclude-null', 'trade', '--where', 'site.closed = false']);
      expect(first.code, first.stderr).toBe(0);
      expect(MigrationPlan.parse(JSON.parse(await readFile(planPath, 'utf8')))).toMatchObject({ status: 'approved', revision: 2 });

      // Taking back the predicate and the NULL exclusion, and deciding the NULLs that come back, in one revision.
      const later = await runFerry(env, ['approve', planPath, '--unwhere', 'site.closed = false', '--include-null', 'trade', '--map-null', 'office']);
      expect(later.code, later.stderr).toBe(0);
      expect(later.stdout).toContain('filter: no longer only rows where site.closed = false (--unwhere "site.closed = false")');
      expect(later.stdout).toContain(`rows to move: ${await count("w.trade IS NOT NULL AND w.trade <> 'Volunteer' AND NOT s.closed")} → ${await count("w.trade IS NULL OR w.trade <> 'Volunteer'")}`);
      expect(later.stdout).toContain('NULL back (2 rows) → needs review');
      expect(later.stdout).toContain('craft: NULL → office (was unresolved)');
      const plan = MigrationPlan.parse(JSON.parse(await readFile(planPath, 'utf8')));
      expect(plan).toMatchObject({ status: 'approved', revision: 3 });
      expect(value(plan, null)).toMatchObject({ target: 'office', status: 'overridden' });
      const shown = await runFerry(env, ['show', planPath]);
      expect(shown.stdout).toContain('[trade NOT IN ("Volunteer") (NULL kept)]');
      // The filter no longer has it; the revision history still says it was taken back.
      expect(shown.stdout).not.toMatch(/\[[^\]\n]*site\.closed/);
      expect(shown.stdout).toContain('no longer only rows where site.closed = false');

      // Volunteer back: decided again by the rules, which cannot: the revision is written, approval refused until it is decided.
      const back = await runFerry(env, ['approve', planPath, '--include', 'Volunteer']);
      expect(back.code).not.toBe(0);
      expect(back.stderr).toContain('PLAN_NEEDS_REVIEW');
      expect(back.stderr).toContain('"Volunteer" (2 rows)');
      expect(MigrationPlan.parse(JSON.parse(await readFile(planPath, 'utf8')))).toMatchObject({ status: 'draft', revision: 4, source: { filters: [] } });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
