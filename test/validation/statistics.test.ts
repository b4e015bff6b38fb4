import { describe, expect, it } from 'vitest';
import { openConnections } from '../../src/chain.js';
import { RunStore } from '../../src/store/run-store.js';
import { ANALYZE_FROM_ROWS, refreshStatistics } from '../../src/validation/statistics.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { executeRunForTest } from '../setup/execute.js';
import { useFaultTable } from '../faults/fault-case.js';

/**
 * Meter reads of one site moved into readings, enough rows that a planner with no statistics
 * (a table never analyzed says -1 rows) would plan validation's joins on a guess.
 */
const ROWS = 2_400;
const LEGACY = `
CREATE TABLE meter_reads (read_no bigint PRIMARY KEY, site integer NOT NULL, kwh numeric(10,3), note text);
INSERT INTO meter_reads SELECT g * 3, CASE WHEN g % 8 = 0 THEN 4 ELSE 3 END, CASE WHEN g % 11 = 0 THEN NULL ELSE g * 1.25 END, 'read ' || g FROM generate_series(1, ${ROWS}) g;
`;
const TARGET = `
CREATE TABLE readings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_read_no bigint UNIQUE, site integer NOT NULL, kwh numeric(10,3), note text);
ALTER TABLE readings SET (autovacuum_enabled = false);
`;

describe('after a large run, validation plans on fresh statistics', () => {
  const ft = useFaultTable({ prefix: 'stats_', legacy: LEGACY, target: TARGET, table: { source: 'meter_reads', target: 'readings', filter: { column: 'site', value: 3 }, description: 'move the meter reads of site 3 into readings', batchSize: 500 } });
  const estimate = async (table: string) => Number((await ft.pair.sql('target', `SELECT reltuples::float8 AS n FROM pg_class WHERE oid = $1::regclass`, [table])).rows[0]!.n);

  it('the target table and migration_mappings are analyzed before validating a run of thousands of rows; a small run is left to autovacuum', async () => {
    const { pair, plan, analysis, driver } = ft;
    const moved = Number((await pair.sql('legacy', 'SELECT count(*) AS n FROM meter_reads WHERE site = 3')).rows[0]!.n);
    expect(moved).toBeGreaterThanOrEqual(ANALYZE_FROM_ROWS);
    expect(await estimate('readings'), 'never analyzed yet').toBe(-1);
    const conn = await openConnections(pair.legacy.url, pair.target.url);
    const store = await RunStore.open(pair.target.url);
    try {
      const { run, report } = await executeRunForTest(store, { plan, analysis, conn, driver, policy: defaultPolicy });
      expect(run).toMatchObject({ status: 'completed', inserted: moved });
      expect(report?.status).toBe('passed');
      expect(await estimate('readings')).toBe(moved);
      expect(await estimate('ferry_control.migration_mappings')).toBe(moved);
      // Below the threshold nothing is analyzed, and the estimate stays what it was.
      await pair.sql('target', 'INSERT INTO readings (site, note) VALUES (9, $1)', ['by hand']);
      expect(await refreshStatistics(conn.target, plan, ANALYZE_FROM_ROWS - 1)).toEqual([]);
      expect(await estimate('readings')).toBe(moved);
    } finally {
      await store.close();
      await conn.close();
    }
  });
});
