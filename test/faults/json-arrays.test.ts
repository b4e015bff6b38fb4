import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareProgram, targetTableOf } from '../../src/chain.js';
import { validateMigration } from '../../src/validation/validate.js';
import { completed, runOnce, useFaultTable, withConnections } from './fault-case.js';

/**
 * Arrays arrive as they left, element by element. pg's default parsers ran JSON.parse on
 * json[] / jsonb[] elements (1.10 became 1.1, a big integer a rounded one), made Dates of
 * timestamp[] (zone drift), and a JS array went into COPY as JSON ('[…]'), which PostgreSQL
 * refuses as an array literal: no table with an array column could be migrated.
 */
const LEGACY = `
CREATE TABLE sensor_logs (log_no serial PRIMARY KEY, station integer NOT NULL, readings jsonb[], raw_frames json[], taken timestamp[], tags text[], levels numeric(6,2)[][]);
INSERT INTO sensor_logs (station, readings, raw_frames, taken, tags, levels) VALUES
  (4, ARRAY['{"t": 1.10}', '{"id": 12345678901234567890}']::jsonb[], ARRAY['{"a":1.0, "a":2}', '[1.50]']::json[],
      ARRAY['2024-03-31 02:30:00', '1999-12-31 23:59:59.999999']::timestamp[], ARRAY['a,b', 'NULL', '', 'q"uote', E'back\\slash'], '{{1.10,2},{NULL,-0.50}}'),
  (4, ARRAY[]::jsonb[], ARRAY['"x\\\\y"']::json[], ARRAY[]::timestamp[], ARRAY[NULL, ' pad '], NULL),
  (4, ARRAY[NULL, '{"q": "Ünï 🙂"}']::jsonb[], NULL, NULL, '{}', '{}'),
  (4, NULL, ARRAY['{ "k" : [ 1.000 ] }']::json[], ARRAY['infinity']::timestamp[], ARRAY['tab	here'], '{3.14}'),
  (9, ARRAY['{"t": 9.90}']::jsonb[], NULL, NULL, NULL, NULL);
`;

const TARGET = `
CREATE TABLE station_logs (ref uuid PRIMARY KEY DEFAULT gen_random_uuid(), log_no integer UNIQUE, readings jsonb[], raw_frames json[], taken timestamp[], tags text[], levels numeric(6,2)[][]);
`;

describe('arrays (json, jsonb, timestamp, text, numeric; empty, NULL elements, two dimensions) arrive exactly', () => {
  const ft = useFaultTable({ prefix: 'faultjsonarr_', legacy: LEGACY, target: TARGET, table: { source: 'sensor_logs', target: 'station_logs', filter: { column: 'station', value: 4 }, description: 'move the sensor logs of station 4 into station logs', batchSize: 2 } });

  it('a run copies every element exactly, and validates', async () => {
    const { driver, pair, work, plan, analysis } = ft;
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'arrays') });
    const r = completed(await runOnce(pair, { plan, analysis, program }, driver));
    const read = 'SELECT log_no, readings::text AS readings, raw_frames::text AS raw_frames, taken::text AS taken, tags::text AS tags, levels::text AS levels FROM';
    const source = (await pair.sql('legacy', `${read} sensor_logs WHERE station = 4 ORDER BY log_no`)).rows;
    const target = (await pair.sql('target', `${read} station_logs ORDER BY log_no`)).rows;
    expect(source).toHaveLength(4);
    expect(target).toEqual(source);
    for (const method of ['range_checksum', 'row_walk'] as const) {
      const report = await withConnections(pair, (conn) =>
        validateMigration({ migrationId: r.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), method }),
      );
      expect(report.status, JSON.stringify(report.checks.filter((c) => c.status === 'fail'))).toBe('passed');
    }
  });
});

describe('a JS array a program returns is written as an array literal', () => {
  it('round-trips through PostgreSQL’s array input for text, numbers, NULLs, quotes, backslashes, nesting and objects', async () => {
    const { arrayLiteral } = await import('../../src/orchestrator/copy.js');
    const { createDatabasePair } = await import('../setup/seed-case.js');
    const pair = await createDatabasePair('arrlit_', { legacy: async () => {}, target: async () => {} });
    try {
      const cases: Array<[unknown[], string, string]> = [
        [['a,b', 'NULL', '', 'q"uote', 'back\\slash', null, ' pad ', '{}', 'tab\there'], 'text[]', '{"a,b","NULL","","q\\"uote","back\\\\slash",NULL," pad ","{}","tab\there"}'],
        [[1, -2.5, 10n ** 20n, null], 'numeric[]', '{1,-2.5,100000000000000000000,NULL}'],
        [[[1, 2], [3, null]], 'int[]', '{{1,2},{3,NULL}}'],
        [[true, false, null], 'boolean[]', '{t,f,NULL}'],
        [[{ fee: 1.1, n: [1, 'x'] }, null], 'jsonb[]', '{"{\\"n\\": [1, \\"x\\"], \\"fee\\": 1.1}",NULL}'],
        [[], 'text[]', '{}'],
      ];
      for (const [value, type, expected] of cases) {
        const r = await pair.sql('target', `SELECT $1::${type}::text AS t`, [arrayLiteral(value)]);
        expect(r.rows[0].t, `${type} ${JSON.stringify(value, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`).toBe(expected);
      }
    } finally {
      await pair.drop();
    }
  });
});
