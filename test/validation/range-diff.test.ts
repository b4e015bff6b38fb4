import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import type { TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import type { ValidationReport } from '../../src/core/artifacts/validation-report.js';
import { applyTextSettings, compilePlan, quoteLiteral, readColumnTypes } from '../../src/validation/plan-sql.js';
import { planRelations, rangeDiff } from '../../src/validation/range-diff.js';
import { validateMigration } from '../../src/validation/validate.js';
import { createDatabasePair, type DatabasePair } from '../setup/seed-case.js';
import { buildItemsCase, keySql, type ItemsCase } from '../../src/demo/items-case.js';

/**
 * Validation by range checksums on real PostgreSQL, no Docker: a migration written
 * directly in SQL (src/demo/items-case.ts), then differences planted on both sides;
 * each must be found and named by legacy key, with the kind of difference.
 */

const noop = async () => undefined;

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

const check = (r: ValidationReport, name: string) => r.checks.find((c) => c.name === name)!;
const keysOf = (r: ValidationReport, name: string) => check(r, name).problems.map((p) => p.legacyKey);

function setup(key: 'integer' | 'text', rows: number) {
  const ctx = {} as { db: DatabasePair; source: pg.Client; target: pg.Client; c: ItemsCase; table: TableInfo };
  beforeAll(async () => {
    ctx.db = await createDatabasePair(`rd_${key}_`, { legacy: noop, target: noop });
    ctx.source = await connect(ctx.db.legacy.url);
    ctx.target = await connect(ctx.db.target.url);
    ctx.c = await buildItemsCase({ source: ctx.source, target: ctx.target, rows, key });
    const analysis = await analyzeSchemas({ source: ctx.source, target: ctx.target });
    ctx.table = analysis.target.tables.find((t) => t.name === 'items_new')!;
  });
  afterAll(async () => {
    await ctx.source?.end();
    await ctx.target?.end();
    await ctx.db?.drop();
  });
  const validate = (method?: 'range_checksum' | 'row_walk') =>
    validateMigration({ migrationId: ctx.c.migrationId, source: ctx.source, target: ctx.target, targetTable: ctx.table, ...(method ? { method } : {}) });
  return { ctx, validate };
}

describe('range checksums: integer legacy keys, 20,000 rows', () => {
  const ROWS = 20_000;
  const { ctx, validate } = setup('integer', ROWS);

  it('a clean migration passes, every row compared, orphans listed by legacy key and not failures', async () => {
    const r = await validate();
    expect(r.method).toBe('range_checksum');
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.status).toBe('passed');
    expect(r.counts).toMatchObject({ source: ctx.c.migrated, migrated: ctx.c.migrated, mappings: ctx.c.migrated });
    expect(r.scan!.segments).toBeGreaterThan(100);
    // Orphans are many here: their values were found first and compared as the NULL written, so no row needed fetching.
    expect(r.scan!.rowsFetched).toBe(0);
    expect(check(r, 'row_content').summary).toMatch(new RegExp(`^${ctx.c.migrated}/${ctx.c.migrated} rows re-derived from their source rows and equal \\(9 columns each\\), compared by range checksums`));
    expect(check(r, 'row_content').summary).toContain('note written by a model');
    // Orphans: a parent excluded by the filter (i-1 a multiple of 50) or one that never existed (900000 + i).
    const expected = [];
    for (let i = 1; i <= ROWS; i++) {
      if (i % 50 === 0 || i % 10 === 3) continue;
      if (i % 997 === 0) expected.push({ key: String(i), value: String(900000 + i) });
      else if ((i - 1) % 50 === 0) expected.push({ key: String(i), value: String(i - 1) });
    }
    expect(r.orphans?.map((o) => [o.legacyKey, o.legacyValue, o.written, o.policy])).toEqual(expected.map((e) => [e.key, e.value, null, 'set_null']));
    expect(check(r, 'fk_integrity').summary).toContain(`${ctx.c.migrated} reference(s) in parent_id checked through the parents' mappings, ${expected.length} orphan(s)`);
  });

  it('agrees with the row-by-row walk on the clean migration', async () => {
    const [a, b] = [await validate(), await validate('row_walk')];
    expect(b.method).toBe('row_walk');
    expect(b.status).toBe('passed');
    expect(b.orphans).toEqual(a.orphans);
    expect(b.counts).toEqual(a.counts);
  });

  it('finds and names each planted difference by legacy key, with its kind', async () => {
    const t = (sql: string) => ctx.target.query(sql);
    // One value changed behind ferry's back, a target row deleted with its mapping, a target row
    // deleted under its mapping, one extra row (a mapping for a legacy key the source does not have).
    await t(`UPDATE items_new SET "odd""name" = 'tampered' WHERE legacy_id = 1234`);
    await t(`DELETE FROM ferry_control.migration_mappings WHERE source_table = 'public.Items' AND legacy_id = '5672'; DELETE FROM items_new WHERE legacy_id = 5672`);
    await t(`DELETE FROM items_new WHERE legacy_id = 5682`);
    await t(`INSERT INTO items_new (id, legacy_id, kind) VALUES ('00000000-0000-4000-8000-000000000001', 30000000, 'new')`);
    await t(`INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES (${ctx.c.migrationId}, 9, 'public.Items', '30000000', 'public.items_new', '00000000-0000-4000-8000-000000000001')`);
    // The source moved on: a row added after the migration, a row changed, a row no longer under the filter.
    await ctx.source.query(`INSERT INTO "Items" (id, "select", status, grp) VALUES (${ROWS + 1}, 'late', 'NEW', 1)`);
    await ctx.source.query(`UPDATE "Items" SET amount = 1, "select" = E'new\\nvalue, "q"' WHERE id = 777`);
    await ctx.source.query(`UPDATE "Items" SET grp = 0 WHERE id = 4242`);

    const r = await validate();
    expect(r.status).toBe('failed');
    // source: +1 late, -1 filtered out; mappings: -1 deleted, +1 extra; target rows: -2 deleted, +1 extra.
    expect(r.counts).toMatchObject({ source: ctx.c.migrated, mappings: ctx.c.migrated, migrated: ctx.c.migrated - 1 });
    const content = check(r, 'row_content');
    expect(content.status).toBe('fail');
    expect(content.problems).toEqual([
      { legacyKey: '777', message: `select is NULL, the plan says "new\\nvalue, \\"q\\""` },
      { legacyKey: '777', message: 'amount is "971.25", the plan says "1.00"' },
      { legacyKey: '1234', message: `odd"name is "tampered", the plan says "x'1234"` },
    ]);
    const mapping = check(r, 'mapping_completeness');
    expect(mapping.problems).toEqual([
      { legacyKey: '5672', message: 'source row has no mapping (not migrated)' },
      { legacyKey: '5682', message: expect.stringMatching(/^mapping points at id [0-9a-f-]{36}, which does not exist in items_new$/) },
      { legacyKey: String(ROWS + 1), message: 'source row has no mapping (not migrated)' },
      { legacyKey: '4242', message: 'mapping has no source row under the plan filter' },
      { legacyKey: '30000000', message: 'mapping has no source row under the plan filter' },
    ]);
    expect(mapping.summary).toBe('3 source row(s) without a live mapping, 2 mapping(s) without a source row');
    expect(check(r, 'count_match').status).toBe('fail');
    // The walk names the same rows.
    const w = await validate('row_walk');
    expect(keysOf(w, 'mapping_completeness').sort()).toEqual(keysOf(r, 'mapping_completeness').sort());
    expect([...new Set(keysOf(w, 'row_content'))].sort()).toEqual(['1234', '777']);
  });

  it('bisects: with small segments the same rows are found over several levels', async () => {
    await ctx.source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await ctx.target.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      await applyTextSettings(ctx.source);
      await applyTextSettings(ctx.target);
      const sql = compilePlan(ctx.c.plan, await readColumnTypes(ctx.source, 'public', 'Items'), await readColumnTypes(ctx.target, 'public', 'items_new'), { safeCasts: true });
      const d = await rangeDiff({ source: ctx.source, target: ctx.target, spec: planRelations(sql), segmentRows: 4, leafRows: 8, maxSegments: 3, fanout: 4 });
      expect(d.stats.levels).toBeGreaterThan(3);
      expect(d.missing).toEqual(['5672', String(ROWS + 1)]);
      expect(d.dangling.map((x) => x.key)).toEqual(['5682']);
      expect(d.extra.map((x) => [x.key, x.present])).toEqual([['4242', true], ['30000000', true]]);
      // 777 and 1234, and every orphan (its reference differs: NULL written for a legacy value).
      expect(d.differs).toContain('777');
      expect(d.differs).toContain('1234');
      // Far fewer rows fetched than compared.
      expect(d.stats.rowsFetched).toBeLessThan(ROWS);
    } finally {
      await ctx.source.query('ROLLBACK');
      await ctx.target.query('ROLLBACK');
    }
  });

  it('a source value the target type does not take is named, not a crash', async () => {
    await ctx.source.query(`UPDATE "Items" SET qty = 'twelve' WHERE id = 888`);
    await ctx.source.query(`UPDATE "Items" SET status = 'Unheard of' WHERE id = 889`);
    const r = await validate();
    const p = check(r, 'row_content').problems;
    expect(p).toContainEqual({ legacyKey: '888', message: 'qty: qty = "twelve" is not a value of integer' });
    expect(p).toContainEqual({ legacyKey: '889', message: 'kind: source value "Unheard of" of status has no public.item kind value in the plan (it holds "used")' });
  });
});

describe('range checksums: text legacy keys (unicode, emoji; byte order)', () => {
  const ROWS = 6_000;
  const { ctx, validate } = setup('text', ROWS);

  it('a clean migration passes', async () => {
    const r = await validate();
    expect(r.method).toBe('range_checksum');
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.counts.migrated).toBe(ctx.c.migrated);
    expect((r.orphans ?? []).length).toBeGreaterThan(0);
  });

  it('names planted differences by their text keys, also when bisecting by percentiles', async () => {
    const key = async (i: number) => String((await ctx.source.query(`SELECT ${keySql('text', String(i))} AS k`)).rows[0].k);
    const [changed, gone, late] = [await key(1234), await key(4001), '🔑 late, "quoted"'];
    await ctx.target.query(`UPDATE items_new SET amount = amount + 1 WHERE legacy_id = $1`, [changed]);
    await ctx.target.query('DELETE FROM ferry_control.migration_mappings WHERE legacy_id = $1', [gone]);
    await ctx.target.query(`INSERT INTO items_new (id, legacy_id, kind) VALUES ('00000000-0000-4000-8000-000000000002', 'zz-extra', 'new')`);
    await ctx.target.query(`INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES ($1, 9, 'public.Items', 'zz-extra', 'public.items_new', '00000000-0000-4000-8000-000000000002')`, [ctx.c.migrationId]);
    await ctx.source.query(`INSERT INTO "Items" (id, status, grp) VALUES ($1, 'NEW', 1)`, [late]);
    const r = await validate();
    expect(check(r, 'row_content').problems.map((p) => p.legacyKey)).toEqual([changed]);
    expect(check(r, 'mapping_completeness').problems.map((p) => p.legacyKey).sort()).toEqual([gone, late, 'zz-extra'].sort());

    await ctx.source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await ctx.target.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      await applyTextSettings(ctx.source);
      await applyTextSettings(ctx.target);
      const sql = compilePlan(ctx.c.plan, await readColumnTypes(ctx.source, 'public', 'Items'), await readColumnTypes(ctx.target, 'public', 'items_new'));
      const d = await rangeDiff({ source: ctx.source, target: ctx.target, spec: planRelations(sql), segmentRows: 4, leafRows: 8, maxSegments: 3, fanout: 4 });
      expect(d.stats.levels).toBeGreaterThan(3);
      expect(d.missing.sort()).toEqual([gone, late].sort());
      expect(d.extra.map((x) => x.key)).toEqual(['zz-extra']);
      expect(d.differs).toContain(changed);
    } finally {
      await ctx.source.query('ROLLBACK');
      await ctx.target.query('ROLLBACK');
    }
  });
});

describe('quoteLiteral', () => {
  const { ctx } = setup('integer', 10);
  it('round-trips any text through PostgreSQL', async () => {
    for (const v of [`it's`, `back\\slash`, `\\'`, `a\nb\tc`, `🚀 ünï`, `$1`, `'; DROP TABLE x; --`, `E'x'`, '']) {
      const r = await ctx.source.query(`SELECT ${quoteLiteral(v)}::text AS v`);
      expect(r.rows[0].v).toBe(v);
    }
    expect(() => quoteLiteral('nul\u0000')).toThrow(/NUL/);
  });
});
