import pg from 'pg';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import {
  ALLOWED_SUMMARY,
  ColumnExpression,
  Expr,
  SESSION_SETTINGS_SQL,
  checkExpr,
  columnsRead,
  compileSql,
  compileTs,
  parentDictionary,
  parentDictionarySql,
  parseExpression,
  resolveParents,
  runtimeSource,
  type CheckEnv,
  type NamedJoin,
} from '../../src/core/expr/index.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { compileCase, evalInPostgres, loadModule, moduleSource, wireRow } from './conformance-harness.js';

const STAFF: CheckEnv = {
  columns: {
    given: 'character varying(40)',
    family: 'text',
    joined_at: 'timestamp without time zone',
    ms: 'integer',
    big: 'bigint',
    cost: 'numeric(10,2)',
    active: 'boolean',
    score: 'real',
    'Mixed Case': 'text',
  },
};

async function refusal(text: string, env: CheckEnv = STAFF): Promise<{ code: string; message: string; at: unknown; construct: unknown; hint: string }> {
  try {
    checkExpr(await parseExpression(text), env);
  } catch (e) {
    const err = e as { code: string; message: string; details?: { at?: number; construct?: string }; hint: string };
    return { code: err.code, message: err.message, at: err.details?.at, construct: err.details?.construct, hint: err.hint };
  }
  throw new Error(`${text} was accepted`);
}

describe('the column language: parsing with PostgreSQL’s parser', () => {
  it('reads the issue’s derivations into the AST', async () => {
    expect(await parseExpression("given || ' ' || family")).toMatchObject({
      kind: 'concat_op',
      left: { kind: 'concat_op', left: { kind: 'column', name: 'given' }, right: { kind: 'literal', literal: 'string', value: ' ' } },
      right: { kind: 'column', name: 'family', at: 16 },
    });
    expect(await parseExpression('kind_ref.label')).toMatchObject({ kind: 'parent_column', path: ['kind_ref'], column: 'label' });
    expect(await parseExpression('a.b.c')).toMatchObject({ kind: 'parent_column', path: ['a', 'b'], column: 'c' });
    expect(await parseExpression('joined_at::date')).toMatchObject({ kind: 'cast', to: { type: 'date' } });
    expect(await parseExpression('cost::numeric(10,2)')).toMatchObject({ kind: 'cast', to: { type: 'numeric', precision: 10, scale: 2 } });
    expect(await parseExpression('CAST(ms AS bigint)')).toMatchObject({ kind: 'cast', to: { type: 'bigint' } });
    expect(await parseExpression('substring(family from 2 for 3)')).toMatchObject({ kind: 'call', fn: 'substring' });
    expect(await parseExpression("trim(leading 'x' from family)")).toMatchObject({ kind: 'call', fn: 'ltrim' });
    // Unquoted names fold to lower case, quoted ones keep theirs: PostgreSQL's rules, from its parser.
    expect(await parseExpression('GIVEN')).toMatchObject({ kind: 'column', name: 'given' });
    expect(await parseExpression('"Mixed Case"')).toMatchObject({ kind: 'column', name: 'Mixed Case' });
    expect(await parseExpression('-2147483648')).toMatchObject({ kind: 'literal', literal: 'integer', value: '-2147483648' });
    expect(await parseExpression('0')).toMatchObject({ kind: 'literal', literal: 'integer', value: '0' });
    expect(await parseExpression("''")).toMatchObject({ kind: 'literal', literal: 'string', value: '' });
    expect(await parseExpression('false')).toMatchObject({ kind: 'literal', literal: 'boolean', value: 'false' });
  });

  it.each([
    ['(SELECT 1)', 'EXPR_UNSUPPORTED', 'a subquery', 0],
    ["upper(given) || now()", 'EXPR_UNSUPPORTED', 'the function now()', 16],
    ["'é😀' || pg_sleep(1)", 'EXPR_UNSUPPORTED', 'the function pg_sleep()', 8],
    ["family LIKE 'x%'", 'EXPR_UNSUPPORTED', 'LIKE', 7],
    ['ms IN (1, 2)', 'EXPR_UNSUPPORTED', 'IN (…)', 3],
    ['ms BETWEEN 1 AND 2', 'EXPR_UNSUPPORTED', 'BETWEEN', 3],
    ['family::varchar(3)', 'EXPR_UNSUPPORTED', 'a cast to varchar', 6],
    ['ms::int[]', 'EXPR_UNSUPPORTED', 'a cast to int4[]', 2],
    ['$1', 'EXPR_UNSUPPORTED', 'a parameter ($n)', 0],
    ['current_date', 'EXPR_UNSUPPORTED', 'a clock or session value (current_date, now-like: not repeatable)', 0],
    ['lower(family) COLLATE "C"', 'EXPR_UNSUPPORTED', 'COLLATE', 14],
    ['count(*)', 'EXPR_UNSUPPORTED', 'the function count()', 0],
    ['active IS TRUE', 'EXPR_UNSUPPORTED', 'IS TRUE / IS FALSE / IS UNKNOWN', 7],
    ['ms ^ 2', 'EXPR_UNSUPPORTED', 'the operator ^', 3],
    ['given; DROP TABLE staff', 'EXPR_UNSUPPORTED', 'several statements', undefined],
    ['given FROM staff', 'EXPR_UNSUPPORTED', 'a query clause', undefined],
    ['given, family', 'EXPR_UNSUPPORTED', 'a list', undefined],
    ['given AS name', 'EXPR_UNSUPPORTED', 'AS', 0],
    ["regexp_replace(family, 'a|b', '')", 'EXPR_UNSUPPORTED', 'alternation |', 23],
    ["regexp_replace(family, '\\d+', '')", 'EXPR_UNSUPPORTED', 'the escape \\d (escape only punctuation; write classes as [0-9])', 23],
    ["regexp_replace(family, '(ab)+', '')", 'EXPR_UNSUPPORTED', 'a quantified group', 23],
    ["regexp_replace(family, 'a', '', 'x')", 'EXPR_UNSUPPORTED', 'regexp_replace flags', 32],
  ])('refuses %s, naming %s construct and where', async (text, code, construct, at) => {
    const r = await refusal(text);
    expect(r).toMatchObject({ code, construct, at });
    expect(r.message).toContain(construct);
    if (at !== undefined) expect(r.message).toContain(`(at character ${at + 1})`);
    expect(r.hint).toMatch(/coalesce nullif round|flags g and i/);
  });

  it('reports a syntax error with PostgreSQL’s message and the position', async () => {
    const r = await refusal('given ||');
    expect(r.code).toBe('EXPR_SYNTAX');
    expect(r.message).toMatch(/syntax error at end of input/);
    expect(await refusal('   ')).toMatchObject({ code: 'EXPR_SYNTAX' });
    expect(ALLOWED_SUMMARY).toContain('::numeric(p,s)');
  });
});

describe('the column language: types by PostgreSQL’s rules', () => {
  const typeOf = async (text: string) => checkExpr(await parseExpression(text), STAFF).type;

  it('infers types as PostgreSQL does', async () => {
    expect(await typeOf('ms / 2')).toBe('integer');
    expect(await typeOf('ms / 2.0')).toBe('numeric');
    expect(await typeOf('ms + big')).toBe('bigint');
    expect(await typeOf('ms * cost')).toBe('numeric');
    expect(await typeOf('3000000000')).toBe('bigint');
    expect(await typeOf("family || ms")).toBe('text');
    expect(await typeOf("'7' + ms")).toBe('integer');
    expect(await typeOf('joined_at::date')).toBe('date');
    expect(await typeOf('CASE WHEN active THEN ms ELSE cost END')).toBe('numeric');
    expect(await typeOf("CASE WHEN ms > 0 THEN 'x' END")).toBe('text');
    expect(await typeOf('coalesce(ms, big)')).toBe('bigint');
    expect(await typeOf('nullif(ms, 0) IS NULL')).toBe('boolean');
  });

  it.each([
    ['lower(ms)', 'EXPR_TYPE', "lower's argument takes text, not integer"],
    ['family + 1', 'EXPR_TYPE', 'operator does not exist: text + integer'],
    ['ms || big', 'EXPR_TYPE', 'operator does not exist: integer || bigint'],
    ["'1' + '2'", 'EXPR_TYPE', 'operator is not unique'],
    ['CASE WHEN active THEN ms ELSE family END', 'EXPR_TYPE', 'CASE types integer and text cannot be matched'],
    ['CASE WHEN ms THEN 1 END', 'EXPR_TYPE', 'CASE WHEN takes boolean, not integer'],
    ['round(ms)', 'EXPR_TYPE', 'round takes numeric, not integer'],
    ['big::boolean', 'EXPR_TYPE', 'cannot cast type bigint to boolean'],
    ['joined_at::uuid', 'EXPR_TYPE', 'cannot cast type timestamp without time zone to uuid'],
    ['substring(family, big)', 'EXPR_TYPE', "substring's start takes integer, not bigint"],
    ['score * 2', 'EXPR_TYPE', 'column score is of type real, which the column language does not read'],
    ['givn', 'EXPR_UNKNOWN_COLUMN', 'the source row has no column "givn"'],
    ['kind_ref.label', 'EXPR_PARENT_UNRESOLVED', 'kind_ref.label is not a column of a parent'],
    ['upper(given, family)', 'EXPR_TYPE', 'upper takes (text); it was given 2 arguments'],
    ["substring(family, '2')", 'EXPR_TYPE', "substring's start is a number: write 2, not '2'"],
    ["round('2.5')", 'EXPR_TYPE', 'round of an untyped literal is ambiguous'],
  ])('refuses %s', async (text, code, message) => {
    const r = await refusal(text);
    expect(r.code).toBe(code);
    expect(r.message).toContain(message);
  });

  it('names the available columns when one is missing', async () => {
    expect((await refusal('givn')).hint).toContain('given, family, joined_at');
  });
});

describe('the column language: compiled SQL and TypeScript', () => {
  it('compiles to SQL with quoted identifiers, escaped literals and explicit collations', async () => {
    const sql = (text: string, env: CheckEnv = STAFF) => parseExpression(text).then((e) => compileSql(checkExpr(e, env), { rowAlias: 'src' }));
    expect(await sql("given || ' ' || family")).toBe(`(("src"."given" || CAST(' ' AS text)) || "src"."family")`);
    expect(await sql('lower("Mixed Case")')).toBe(`lower("src"."Mixed Case" COLLATE pg_c_utf8)`);
    expect(await sql("family < 'b'")).toBe(`("src"."family" COLLATE "C" < CAST('b' AS text))`);
    expect(await sql("ms = '7'")).toBe(`("src"."ms" = CAST('7' AS integer))`);
    expect(await sql('"we""ird" || \'x\'\'y\\z\'', { columns: { 'we"ird': 'text' } })).toBe(`("src"."we""ird" || CAST( E'x''y\\\\z' AS text))`);
  });

  it('keeps a hostile literal a literal in PostgreSQL and in the program', async () => {
    const db = await createTestDatabase('ferry_expr_lit');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const text = "'x'' OR 1=1; --\\' || given";
      const typed = checkExpr(await parseExpression(text), { columns: { given: 'text' } });
      const r = await client.query(`SELECT (${compileSql(typed, { rowAlias: 's' })}) AS v FROM (SELECT 'G'::text AS given) AS s`);
      expect(r.rows[0].v).toBe("x' OR 1=1; --\\G");
      const mod = await loadModule(moduleSource([{ c: { op: 'lit', expr: text, columns: { given: 'text' }, rows: [] }, typed, sql: '', ts: compileTs(typed) }]));
      try {
        expect(mod.run(0, { given: 'G' })).toEqual({ ok: "x' OR 1=1; --\\G" });
      } finally {
        await mod.dispose();
      }
    } finally {
      await client.end();
      await db.drop();
    }
  });

  it('stores as zod-checked JSON and compiles the same after a round trip; a tampered literal is refused', async () => {
    const expr = await parseExpression("CASE WHEN ms > 0 THEN round(cost * 1.5, 1) ELSE -cost END");
    const stored = ColumnExpression.parse(JSON.parse(JSON.stringify({ source: 'x', expr })));
    const a = compileSql(checkExpr(expr, STAFF), { rowAlias: 'r' });
    expect(compileSql(checkExpr(stored.expr, STAFF), { rowAlias: 'r' })).toBe(a);
    expect(compileTs(checkExpr(stored.expr, STAFF))).toBe(compileTs(checkExpr(expr, STAFF)));
    expect(Expr.safeParse({ kind: 'call', fn: 'pg_sleep', args: [] }).success).toBe(false);
    const tampered = Expr.parse({ kind: 'arith', op: '+', left: { kind: 'column', name: 'ms' }, right: { kind: 'literal', literal: 'numeric', value: '1); DROP TABLE x; --' } });
    expect(() => compileSql(checkExpr(tampered, STAFF), { rowAlias: 'r' })).toThrow(/not a numeric literal/);
    expect(columnsRead(expr).sort()).toEqual(['cost', 'ms']);
  });

  it('gives the README’s worked example, in PostgreSQL and in the program', async () => {
    const columns = { first_name: 'character varying(40)', last_name: 'text', email: 'text', hire_date: 'timestamp without time zone', rate: 'numeric' };
    const row = { first_name: 'Ada', last_name: 'Lovelace', email: ' Ada@Example.COM', hire_date: '1843-07-05 10:00', rate: '12.345' };
    const examples: Array<[string, string]> = [
      ["first_name || ' ' || last_name", 'Ada Lovelace'],
      ['lower(trim(email))', 'ada@example.com'],
      ['hire_date::date', '1843-07-05'],
      ['rate::numeric(10,2)', '12.35'],
      ["CASE WHEN rate > 10 THEN 'senior' ELSE 'junior' END", 'senior'],
    ];
    const compiled = await Promise.all(examples.map(([expr]) => compileCase({ op: 'readme', expr, columns, rows: [row] })));
    expect(compiled[0]!.sql).toBe('(("src"."first_name" || CAST(\' \' AS text)) || "src"."last_name")');
    expect(compiled[0]!.ts).toBe('pg.textcat(pg.textcat(pg.col(row, "first_name", "text"), "text", " ", "text"), "text", pg.col(row, "last_name", "text"), "text")');
    const db = await createTestDatabase('ferry_expr_readme');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const mod = await loadModule(moduleSource(compiled));
    try {
      await client.query(SESSION_SETTINGS_SQL);
      for (const [i, k] of compiled.entries()) {
        expect(await evalInPostgres(client, k, row)).toEqual({ ok: examples[i]![1] });
        expect(mod.run(i, await wireRow(client, columns, row))).toEqual({ ok: examples[i]![1] });
      }
    } finally {
      await mod.dispose();
      await client.end();
      await db.drop();
    }
  });

  it('inlines a runtime that imports nothing', () => {
    const src = runtimeSource();
    expect(src).not.toMatch(/^\s*import\s/m);
    expect(src).not.toMatch(/\brequire\(/);
  });

  it('inlines the runtime as one top-level value, pg, besides its types', () => {
    // runtime.ts is written as top-level functions; in a program they must not meet the program's own names.
    const file = ts.createSourceFile('program.ts', runtimeSource(), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const values = file.statements.filter((s) => !ts.isTypeAliasDeclaration(s) && !ts.isInterfaceDeclaration(s));
    expect(values.map((s) => s.getText(file).slice(0, 26))).toEqual(['export const pg = (() => {']);
  });
});

describe('the column language: a parent’s column through legacy foreign keys', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let analysis: SchemaAnalysis;

  beforeAll(async () => {
    db = await createTestDatabase('ferry_expr_parent');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(SESSION_SETTINGS_SQL);
    await client.query(`
      CREATE TABLE crew (crew_no integer PRIMARY KEY, fname varchar(30), sname text, boss_no integer REFERENCES crew);
      CREATE TABLE patron (patron_code text PRIMARY KEY, mail text, rep_no integer REFERENCES crew);
      CREATE TABLE carrier_kind (kind_key integer PRIMARY KEY, label text NOT NULL);
      CREATE TABLE piece (piece_no bigint PRIMARY KEY, title text, kind_key integer REFERENCES carrier_kind);
      CREATE TABLE legacy_piece (piece_no bigint PRIMARY KEY, kindcode integer);
      INSERT INTO crew VALUES (1, 'Ada', 'Lovelace', NULL), (2, 'Émile', 'Zola', 1), (3, NULL, 'O''Brien', 2);
      INSERT INTO patron VALUES ('P-1', 'A@X.ORG', 2), ('P-2', NULL, 3), ('P-3', 'z@y', NULL);
      INSERT INTO carrier_kind VALUES (10, 'MPEG audio file'), (11, 'Protected AAC'), (12, '😀 disc');
      INSERT INTO piece VALUES (100, 'one', 10), (101, 'two', 12), (102, 'three', NULL);
      INSERT INTO legacy_piece VALUES (100, 11), (101, 99), (102, NULL);
    `);
    analysis = await analyzeSchemas({ source: client, target: client });
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  /** Every parent_column node of a tree. */
  const parentNodes = (e: unknown): Array<Extract<Expr, { kind: 'parent_column' }>> => {
    if (Array.isArray(e)) return e.flatMap(parentNodes);
    if (!e || typeof e !== 'object') return [];
    if ((e as Expr).kind === 'parent_column') return [e as Extract<Expr, { kind: 'parent_column' }>];
    return Object.values(e).flatMap(parentNodes);
  };

  /**
   * Every row of the table, derived twice: by PostgreSQL from the SQL compiler's output (the
   * parent read by a subquery through the FK) and by the compiled TypeScript, its parents
   * streamed in as dictionaries. Returns both, by the row's key.
   */
  async function bothWays(table: string, key: string, text: string, joins: Record<string, NamedJoin> = {}) {
    const resolved = resolveParents(await parseExpression(text), analysis.source, { schema: 'public', name: table }, joins);
    const info = analysis.source.tables.find((t) => t.name === table)!;
    const columns = Object.fromEntries(info.columns.map((c) => [c.name, c.pgType]));
    const typed = checkExpr(resolved.expr, { columns, parentColumns: resolved.parentColumns });
    const sql = await client.query<{ k: string; v: string | null }>(
      `SELECT CAST(src."${key}" AS text) AS k, CAST((${compileSql(typed, { rowAlias: 'src' })}) AS text) AS v FROM public."${table}" AS src ORDER BY src."${key}"`,
    );
    const mod = await loadModule(moduleSource([{ c: { op: 'parent', expr: text, columns, rows: [] }, typed, sql: '', ts: compileTs(typed) }]));
    try {
      for (const node of parentNodes(resolved.expr)) {
        const r = await client.query(parentDictionarySql(node.hops!, node.column));
        mod.parents.set([...node.path, node.column].join('.'), parentDictionary(r.rows, node.hops![0]!.parentColumns.length));
      }
      const texts = info.columns.map((c) => `CAST(src."${c.name}" AS text) AS "${c.name}"`).join(', ');
      const source = await client.query<Record<string, string | null>>(`SELECT ${texts} FROM public."${table}" AS src ORDER BY src."${key}"`);
      const program = source.rows.map((row) => {
        const wire = Object.fromEntries(info.columns.map((c) => [c.name, row[c.name] === null ? null : c.category === 'integer' ? Number(row[c.name]) : row[c.name]]));
        return { k: row[key]!, v: mod.run(0, wire) };
      });
      return { postgres: sql.rows.map((r) => ({ k: r.k, v: { ok: r.v } })), program, resolved };
    } finally {
      await mod.dispose();
    }
  }

  it('resolves the hop through the declared foreign key and derives the same values both ways', async () => {
    const { postgres, program, resolved } = await bothWays('piece', 'piece_no', 'carrier_kind.label');
    expect(resolved.expr).toMatchObject({ kind: 'parent_column', hops: [{ name: 'carrier_kind', childColumns: ['kind_key'], schema: 'public', table: 'carrier_kind', parentColumns: ['kind_key'] }] });
    expect(postgres).toEqual([
      { k: '100', v: { ok: 'MPEG audio file' } },
      { k: '101', v: { ok: '😀 disc' } },
      { k: '102', v: { ok: null } },
    ]);
    expect(program).toEqual(postgres);
  });

  it('follows several hops, names a self-reference by its column, and mixes parent and own columns', async () => {
    const { postgres, program } = await bothWays('patron', 'patron_code', "lower(mail) || ' via ' || coalesce(rep.boss.fname || ' ' || rep.boss.sname, 'nobody')");
    expect(postgres).toEqual([
      { k: 'P-1', v: { ok: 'a@x.org via Ada Lovelace' } },
      { k: 'P-2', v: { ok: null } },
      { k: 'P-3', v: { ok: 'z@y via nobody' } },
    ]);
    expect(program).toEqual(postgres);
  });

  it('uses a named join where the legacy schema declares no key, and gives NULL for a dangling value', async () => {
    const joins = { carrier_kind: { childColumns: ['kindcode'], schema: 'public', table: 'carrier_kind', parentColumns: ['kind_key'] } };
    const { postgres, program } = await bothWays('legacy_piece', 'piece_no', 'upper(carrier_kind.label)', joins);
    expect(postgres).toEqual([
      { k: '100', v: { ok: 'PROTECTED AAC' } },
      { k: '101', v: { ok: null } },
      { k: '102', v: { ok: null } },
    ]);
    expect(program).toEqual(postgres);
  });

  it('refuses a parent no key explains, and a name two keys fit', async () => {
    const tryResolve = async (table: string, text: string) => {
      try {
        resolveParents(await parseExpression(text), analysis.source, { schema: 'public', name: table });
      } catch (e) {
        return e as { code: string; message: string; hint: string };
      }
      throw new Error('resolved');
    };
    const none = await tryResolve('legacy_piece', 'carrier_kind.label');
    expect(none.code).toBe('EXPR_PARENT_UNRESOLVED');
    expect(none.hint).toMatch(/declares no foreign keys/);
    const wrongColumn = await tryResolve('piece', 'carrier_kind.name');
    expect(wrongColumn).toMatchObject({ code: 'EXPR_UNKNOWN_COLUMN' });
    expect(wrongColumn.hint).toContain('kind_key, label');
    await client.query('ALTER TABLE piece ADD COLUMN alt_kind integer REFERENCES carrier_kind');
    const twoKeys = analysisFor(await analyzeSchemas({ source: client, target: client }));
    const ambiguous = await (async () => {
      try {
        resolveParents(await parseExpression('carrier_kind.label'), twoKeys, { schema: 'public', name: 'piece' });
      } catch (e) {
        return e as { code: string; message: string };
      }
      throw new Error('resolved');
    })();
    expect(ambiguous.code).toBe('EXPR_PARENT_UNRESOLVED');
    expect(ambiguous.message).toMatch(/fits 2 foreign keys/);
    // Named by its column, the second key is no longer ambiguous.
    expect(resolveParents(await parseExpression('alt_kind.label'), twoKeys, { schema: 'public', name: 'piece' }).expr).toMatchObject({ hops: [{ childColumns: ['alt_kind'] }] });
  });
});

const analysisFor = (a: SchemaAnalysis) => a.source;
