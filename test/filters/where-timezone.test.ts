import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { describeToPlan, openConnections, prepareProgram, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from './workshop-case.js';

/**
 * A --where predicate over a timestamptz means the same rows at approve time (the recount),
 * in the run's snapshot and in validation, whatever time zone the source session has: the
 * column language reads text as UTC, and every transaction reading under the filter says so.
 */
describe('a --where predicate is read in UTC everywhere, whatever the session time zone', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let work: string;
  beforeAll(async () => {
    db = await createWorkshopCase();
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-where-tz-'));
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('recounts, runs in the Docker sandbox and validates the same 37 rows under a session in Auckland', async () => {
    const { plan, analysis } = await describeToPlan({ description: WORKSHOP_DESCRIPTION, conn });
    // In Auckland, midnight of the new year is 11:00 UTC the day before: staff 203 (20:00 UTC) would fall out.
    await conn.source.query("SET TimeZone = 'Pacific/Auckland'");
    const next = await applyOverrides(
      plan,
      { map: [{ source: 'MT*', target: 'manufacturing' }], mapNull: [{ target: 'office' }], exclude: [{ source: 'Volunteer' }], where: ["last_seen < '2024-01-01 00:00:00'"] },
      'tester',
      createPlanProbe(conn.source, conn.target),
      new Date(),
      () => true,
      analysis,
    );
    expect(next.source.rowCount).toBe(37);
    const expected = await db.sql('legacy', `SELECT count(*)::int AS n FROM workshop_staff WHERE trade IS DISTINCT FROM 'Volunteer' AND last_seen < '2024-01-01 00:00:00+00'`);
    expect(expected.rows[0]).toEqual({ n: 37 });
    const approved = approvePlan(next, 'tester');
    const program = await prepareProgram({ plan: approved, analysis, dir: join(work, 'run') });
    const { run, report } = await executeRunForTest(store, { plan: approved, analysis, program, conn, driver: await dockerDriverForTests(), policy: defaultPolicy });
    expect(run).toMatchObject({ status: 'completed', sourceRows: 37, inserted: 37 });
    expect(report?.status).toBe('passed');
    const moved = await db.sql('target', `SELECT legacy_id FROM ferry_control.migration_mappings WHERE legacy_id IN ('202', '203') ORDER BY 1`);
    expect(moved.rows.map((r) => r.legacy_id)).toEqual(['203']);
    // The session's own setting is untouched outside the reading transactions.
    expect((await conn.source.query('SHOW TimeZone')).rows[0]).toEqual({ TimeZone: 'Pacific/Auckland' });
  });
});
