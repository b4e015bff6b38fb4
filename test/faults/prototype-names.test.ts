import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan, buildPlan } from '../../agents/planning/index.js';
import { analyzeSchemas, focusSource } from '../../agents/schema-analysis/index.js';
import { prepareProgram, targetTableOf } from '../../src/chain.js';
import { validateMigration } from '../../src/validation/validate.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { completed, createFaultCase, expectValidates, runOnce, withConnections } from './fault-case.js';

/**
 * Columns named like Object.prototype's own members. On a plain object `row.__proto__ = v`
 * sets the prototype instead of a value, and `constructor` / `hasOwnProperty` / `toString`
 * are there before any value is written: every place a column name becomes a key must
 * hold them as data.
 */
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const ODD = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'] as const;

const LEGACY = `
CREATE TABLE curios (serial_no serial PRIMARY KEY, shelf integer NOT NULL, ${q('__proto__')} text, ${q('constructor')} text NOT NULL, ${q('hasOwnProperty')} integer, ${q('toString')} boolean);
INSERT INTO curios (shelf, ${q('__proto__')}, ${q('constructor')}, ${q('hasOwnProperty')}, ${q('toString')})
  SELECT CASE WHEN g % 6 = 0 THEN 9 ELSE 4 END,
         CASE WHEN g % 5 = 0 THEN NULL WHEN g % 5 = 1 THEN '{"polluted": true}' ELSE ' proto ' || g || E'\\t' END,
         'ctor ' || g || ' [object Object]',
         CASE WHEN g % 7 = 0 THEN NULL ELSE g * 13 - 400 END,
         CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END
    FROM generate_series(1, 260) g;
`;

const TARGET = `
CREATE TABLE cabinet (
  uid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  serial_no integer UNIQUE,
  ${q('__proto__')} text,
  ${q('constructor')} text NOT NULL,
  ${q('hasOwnProperty')} integer,
  ${q('toString')} boolean
);
`;

describe('columns named __proto__, constructor, hasOwnProperty, toString migrate as data', () => {
  let driver: SandboxDriver;
  let pair: DatabasePair;
  let work: string;

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    pair = await createFaultCase({ prefix: 'faultproto_', legacy: LEGACY, target: TARGET });
    work = await mkdtemp(join(tmpdir(), 'ferry-faults-proto-'));
  });
  afterAll(async () => {
    await pair?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('plans, runs in the Docker sandbox, writes every value, and validates', async () => {
    const { plan, analysis } = await withConnections(pair, async (conn) => {
      const full = await analyzeSchemas({ source: conn.source, target: conn.target });
      const source = full.source.tables.find((t) => t.name === 'curios')!;
      const target = full.target.tables.find((t) => t.name === 'cabinet')!;
      const filters = [{ column: 'shelf', op: '=' as const, value: 4 }];
      const focused = await focusSource(full, conn.source, { schema: 'public', table: 'curios', filters });
      const p = await buildPlan({
        description: 'move the curios of shelf 4 into the cabinet',
        intent: { source, target, filters, evidence: ['named by the test'] },
        analysis: focused,
        probe: createPlanProbe(conn.source, conn.target),
      });
      return { plan: approvePlan({ ...p, strategy: { ...p.strategy, batchSize: 50 } }, 'faults'), analysis: focused };
    });
    const origins = new Map(plan.columns.map((c) => [c.target, c.origin]));
    for (const name of ODD) expect(origins.get(name), name).toEqual({ kind: 'copy', source: name });

    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p1') });
    expect(program.script.typecheck).toMatchObject({ ok: true });
    const r = completed(await runOnce(pair, { plan, analysis, program }, driver));
    const under = Number((await pair.sql('legacy', 'SELECT count(*) AS n FROM curios WHERE shelf = 4')).rows[0]!.n);
    expect(r).toMatchObject({ status: 'completed', sourceRows: under, inserted: under });
    const joined = await pair.sql(
      'target',
      `SELECT count(*) AS n FROM ferry_control.migration_mappings m JOIN cabinet c ON c.uid::text = m.new_id WHERE m.source_table = 'public.curios' AND m.legacy_id = c.serial_no::text`,
    );
    expect(Number(joined.rows[0]!.n), 'every row has its mapping, and the mapping names its legacy key').toBe(under);

    // Compared as text in SQL, so no JavaScript object stands between the two sides.
    const cols = ODD.map((c) => `${q(c)}::text AS ${q(`v_${c}`)}`).join(', ');
    const src = await pair.sql('legacy', `SELECT serial_no::text AS k, ${cols} FROM curios WHERE shelf = 4 ORDER BY serial_no`);
    const tgt = await pair.sql('target', `SELECT serial_no::text AS k, ${cols} FROM cabinet ORDER BY serial_no`);
    expect(tgt.rows.length).toBe(under);
    expect(tgt.rows).toEqual(src.rows);
    expect(tgt.rows.some((row) => row['v___proto__'] === '{"polluted": true}')).toBe(true);

    await withConnections(pair, (conn) => expectValidates(conn, plan, analysis, r.migrationId));
    // The row walk re-derives every row in JavaScript, where the column names are keys.
    const walked = await withConnections(pair, (conn) =>
      validateMigration({ migrationId: r.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), method: 'row_walk' }),
    );
    expect(walked.checks.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.summary}`)).toEqual([]);
    expect(walked).toMatchObject({ status: 'passed', method: 'row_walk' });
  });
});
