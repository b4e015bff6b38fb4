import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan, buildPlan } from '../../agents/planning/index.js';
import { analyzeSchemas, focusSource } from '../../agents/schema-analysis/index.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { prepareProgram } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { completed, createFaultCase, expectValidates, runOnce, tally, withConnections } from './fault-case.js';

/**
 * Identifiers that look like SQL injection, in table and column names on both sides and in
 * the filter column, and a target schema: every statement ferry builds (analysis, profiles, the cursor, COPY or
 * INSERT, mappings, validation, rollback) must quote them, and the generated program must
 * treat them as property names. The run works, and the tables the payloads name are untouched.
 */
const SOURCE_TABLE = 'parts"; DROP TABLE victims; --';
const TARGET_TABLE = "Items'); DROP TABLE victims; --";
const TARGET_SCHEMA = 'app"; DROP SCHEMA public CASCADE; --';
const NAME = 'na"me';
const GROUP = "grp'; DELETE FROM victims; --";
const NOTE = 'Note Column $1 %s \\';
const RESERVED = 'select';
const TEXT_COL = 'x`${process.exit(1)}`/* */';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const TGT = `${q(TARGET_SCHEMA)}.${q(TARGET_TABLE)}`;

const VICTIMS = `CREATE TABLE victims (id integer PRIMARY KEY, v text NOT NULL); INSERT INTO victims VALUES (1, 'a'), (2, 'b'), (3, 'c');`;

const LEGACY = `
${VICTIMS}
CREATE TABLE ${q(SOURCE_TABLE)} (id serial PRIMARY KEY, ${q(NAME)} text NOT NULL, ${q(GROUP)} integer NOT NULL, ${q(NOTE)} text, ${q(RESERVED)} integer, ${q(TEXT_COL)} text);
INSERT INTO ${q(SOURCE_TABLE)} (${q(NAME)}, ${q(GROUP)}, ${q(NOTE)}, ${q(RESERVED)}, ${q(TEXT_COL)})
  SELECT 'n'' ' || g || ' "); DROP TABLE victims; --', CASE WHEN g % 5 = 0 THEN 2 ELSE 1 END, CASE WHEN g % 4 = 0 THEN NULL ELSE '$1 ' || g END, g, '\${x}' || g
    FROM generate_series(1, 400) g;
`;

const TARGET = `
${VICTIMS}
CREATE SCHEMA ${q(TARGET_SCHEMA)};
CREATE TABLE ${q(TARGET_SCHEMA)}.${q(TARGET_TABLE)} (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_id integer UNIQUE,
  ${q(NAME)} text NOT NULL,
  ${q(GROUP)} integer,
  ${q(NOTE)} text,
  ${q(RESERVED)} integer,
  ${q(TEXT_COL)} text
);
`;

describe('identifiers that look like SQL injection are names, quoted everywhere', () => {
  let driver: SandboxDriver;
  let pair: DatabasePair;
  let work: string;
  let plan: MigrationPlan;
  let analysis: SchemaAnalysis;

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    pair = await createFaultCase({ prefix: 'faultid_', legacy: LEGACY, target: TARGET });
    work = await mkdtemp(join(tmpdir(), 'ferry-faults-ident-'));
  });
  afterAll(async () => {
    await pair?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const victims = async () => ({
    legacy: (await pair.sql('legacy', 'SELECT id, v FROM victims ORDER BY id')).rows,
    target: (await pair.sql('target', 'SELECT id, v FROM victims ORDER BY id')).rows,
  });
  const intact = { legacy: [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }], target: [{ id: 1, v: 'a' }, { id: 2, v: 'b' }, { id: 3, v: 'c' }] };
  const counts = { sourceCountSql: `SELECT count(*) AS n FROM ${q(SOURCE_TABLE)} WHERE ${q(GROUP)} = 1`, table: TGT, sourceTable: `public.${SOURCE_TABLE}`, targetTable: `${TARGET_SCHEMA}.${TARGET_TABLE}` };

  it('analyses and plans them: every column by its own name', async () => {
    const made = await withConnections(pair, async (conn) => {
      const full = await analyzeSchemas({ source: conn.source, target: conn.target });
      const source = full.source.tables.find((t) => t.name === SOURCE_TABLE)!;
      const target = full.target.tables.find((t) => t.schema === TARGET_SCHEMA && t.name === TARGET_TABLE)!;
      expect(source?.columns.map((c) => c.name)).toEqual(['id', NAME, GROUP, NOTE, RESERVED, TEXT_COL]);
      expect(target?.columns.map((c) => c.name)).toEqual(['id', 'legacy_id', NAME, GROUP, NOTE, RESERVED, TEXT_COL]);
      const filters = [{ column: GROUP, op: '=' as const, value: 1 }];
      const focused = await focusSource(full, conn.source, { schema: 'public', table: SOURCE_TABLE, filters });
      expect(focused.focus?.rowCount).toBe(320);
      const p = await buildPlan({
        description: 'move the parts of group 1 (identifiers chosen to look like SQL injection)',
        intent: { source, target, filters, evidence: ['named by the test'] },
        analysis: focused,
        probe: createPlanProbe(conn.source, conn.target),
      });
      return { plan: p, analysis: focused };
    });
    expect(Object.fromEntries(made.plan.columns.map((c) => [c.target, c.origin]))).toEqual({
      id: { kind: 'generated_uuid' },
      legacy_id: { kind: 'copy', source: 'id' },
      [NAME]: { kind: 'copy', source: NAME },
      [GROUP]: { kind: 'copy', source: GROUP },
      [NOTE]: { kind: 'copy', source: NOTE },
      [RESERVED]: { kind: 'copy', source: RESERVED },
      [TEXT_COL]: { kind: 'copy', source: TEXT_COL },
    });
    plan = approvePlan({ ...made.plan, strategy: { ...made.plan.strategy, batchSize: 64 } }, 'faults');
    analysis = made.analysis;
    expect(await victims()).toEqual(intact);
  });

  it('generates and type-checks a program that reads and writes them as property names', async () => {
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p1') });
    expect(program.script.typecheck).toMatchObject({ ok: true });
  });

  it('runs, validates, re-runs and rolls back with every statement quoted; the victims are untouched', async () => {
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p2') });
    const r = completed(await runOnce(pair, { plan, analysis, program }, driver));
    expect(r).toMatchObject({ status: 'completed', sourceRows: 320, inserted: 320 });
    const t = await tally(pair, counts);
    expect(t).toEqual({ source: 320, target: 320, mappings: 320, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: 320, runningRuns: 0 });
    // Values with quotes and $1 came through as values.
    const src = await pair.sql('legacy', `SELECT id, ${q(NAME)} AS n, ${q(NOTE)} AS note, ${q(RESERVED)} AS s, ${q(TEXT_COL)} AS x FROM ${q(SOURCE_TABLE)} WHERE ${q(GROUP)} = 1 ORDER BY id`);
    const tgt = await pair.sql('target', `SELECT legacy_id AS id, ${q(NAME)} AS n, ${q(NOTE)} AS note, ${q(RESERVED)} AS s, ${q(TEXT_COL)} AS x FROM ${TGT} ORDER BY legacy_id`);
    expect(tgt.rows).toEqual(src.rows);
    await withConnections(pair, (conn) => expectValidates(conn, plan, analysis, r.migrationId));
    expect(await victims()).toEqual(intact);

    const again = await runOnce(pair, { plan, analysis, program }, driver);
    expect(again).toMatchObject({ status: 'completed', inserted: 0, skipped: 320 });

    const back = await withConnections(pair, (conn) => rollbackMigration({ migrationId: r.migrationId, target: conn.target }));
    expect(back).toMatchObject({ status: 'rolled_back', rowsDeleted: 320, mappingsDeleted: 320 });
    expect(Number((await pair.sql('target', `SELECT count(*) AS n FROM ${TGT}`)).rows[0]!.n)).toBe(0);
    expect(await victims()).toEqual(intact);
  });
});
