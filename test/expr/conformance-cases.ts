/**
 * The conformance cases: each operator, function and cast of the column language with edge
 * values, evaluated by PostgreSQL and by the compiled TypeScript. Values are written as
 * PostgreSQL input text (NULL as null) for the column's type.
 */
export interface ConformanceCase {
  /** The operator or function under test, for the count in the suite title. */
  op: string;
  expr: string;
  columns: Record<string, string>;
  rows: Array<Record<string, string | null>>;
}

const TEXTS = [null, '', ' ', '  padded  ', 'Émile Zola', 'ǆungla ǈ', 'straße', 'İstanbul', '😀x😀y', 'tab\there', 'ΑΣ σ', "o'brien", 'back\\slash', 'ﬀ ligature', 'mIxEd-case_words 2nd', 'ǅ', 'ᾳ ᾀ'];
const INTS = [null, '0', '1', '-1', '7', '-7', '2147483647', '-2147483648', '46341'];
const BIGS = [null, '0', '-1', '9223372036854775807', '-9223372036854775808', '3000000000'];
const NUMS = [null, '0', '1.5', '-1.5', '2.5', '-2.5', '-0.5', '0.005', '12345.678', '99999999.995', '0.00000000000000000001', '7', '-3.00'];
const TEXT_NUMBERS = [' 42 ', '1e3', '0x1F', '0o17', '0b101', '1_000', '', ' ', '+-1', '2147483648', '-2147483648', '9223372036854775808', ' 1.5 ', 'abc', 'NaN', ' -Infinity', 'inf', '1.2.3', '.5', '5.', '-.5e2', '1_', '_1', '٣', '00012', '+7', '1e400'];
const TEXT_BOOLS = ['yes', 'YES', ' t ', 'of', 'o', 'on', 'off', '1', '0', '2', '', 'tru', 'false ', 'n', 'nope', 'y'];
const TEXT_DATES = ['2020-02-29', '2021-02-29', '1970-01-01', '1969-12-31', '0001-01-01', '9999-12-31', '2020-13-01', ' 2020-01-01 ', 'Jan 8 1999', '2020-1-1', '0000-01-01', '2020-04-31', ''];
const TEXT_TIMESTAMPS = [
  '2020-01-01 00:00:00',
  '2020-01-01T10:30:00+05:30',
  '1969-12-31 23:59:59.999999',
  '2020-06-01 12:00:00-08',
  '2020-01-01 24:00:00',
  '2020-01-01 23:59:60',
  '2020-01-01 10:00Z',
  '2000-01-01 00:00:00.5',
  '2020-01-01 25:00:00',
  'yesterday',
  '2020-01-01 10:00:00+16',
  '1970-01-01',
  '2038-01-19 03:14:08+00',
  '2020-01-01 10:00:00 +01',
  '2000-01-01 00:00:00.1234567',
  '2020-02-30 00:00:00',
  '2020-01-01 10:00:00-15:59',
  '2020-01-01 10:00:00+15:60',
  '1970-01-01 00:00:00.000001Z',
];
const TEXT_UUIDS = [
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
  '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}',
  'a0eebc999c0b4ef8bb6d6bb9bd380a11',
  'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11',
  ' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1',
  'g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
  'a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11',
];
const TIMESTAMPS = [null, '1970-01-01 00:00:00', '1969-12-31 23:59:59.5', '2000-02-29 12:34:56.789', '2038-01-19 03:14:08', '0001-01-01 00:00:00'];
const DATES = [null, '1970-01-01', '1969-12-31', '2000-02-29', '9999-12-31'];

const one = (name: string, values: ReadonlyArray<string | null>) => values.map((v) => ({ [name]: v }));
const pairs = (a: string, av: ReadonlyArray<string | null>, b: string, bv: ReadonlyArray<string | null>) =>
  av.flatMap((x) => bv.map((y) => ({ [a]: x, [b]: y })));

const T = { t: 'text' };
const TT = { t: 'text', s: 'character varying(40)' };
const II = { x: 'integer', y: 'integer' };
const NN = { x: 'numeric', y: 'numeric(12,3)' };

export const CASES: ConformanceCase[] = [
  // text operators and functions
  { op: '||', expr: "t || '-' || s", columns: TT, rows: pairs('t', TEXTS.slice(0, 6), 's', [null, '', 'x', '😀']) },
  { op: '||', expr: "t || x || f", columns: { t: 'text', x: 'integer', f: 'boolean' }, rows: [{ t: 'a', x: '1', f: 'true' }, { t: '', x: '-5', f: 'false' }, { t: 'a', x: null, f: 'true' }] },
  { op: 'concat', expr: 'concat(t, x, f, n, d)', columns: { t: 'text', x: 'integer', f: 'boolean', n: 'numeric', d: 'date' }, rows: [{ t: 'a', x: '1', f: 'true', n: '1.50', d: '2020-01-02' }, { t: null, x: null, f: 'false', n: null, d: null }] },
  { op: 'concat_ws', expr: "concat_ws(', ', t, s)", columns: TT, rows: pairs('t', [null, '', 'Ada'], 's', [null, 'Lovelace']) },
  { op: 'concat_ws', expr: 'concat_ws(s, t, t)', columns: TT, rows: pairs('t', ['a', null], 's', [null, '', '😀']) },
  { op: 'lower', expr: 'lower(t)', columns: T, rows: one('t', TEXTS) },
  { op: 'upper', expr: 'upper(t)', columns: T, rows: one('t', TEXTS) },
  { op: 'initcap', expr: 'initcap(t)', columns: T, rows: one('t', TEXTS) },
  { op: 'btrim', expr: 'trim(t)', columns: T, rows: one('t', TEXTS) },
  { op: 'btrim', expr: 'btrim(t, s)', columns: TT, rows: pairs('t', ['xxhixx', '😀a😀', '', null, ' a '], 's', ['x', '😀', '', null, 'xa']) },
  { op: 'ltrim', expr: "ltrim(t, ' p')", columns: T, rows: one('t', TEXTS) },
  { op: 'rtrim', expr: "trim(trailing 'd ' from t)", columns: T, rows: one('t', TEXTS) },
  { op: 'replace', expr: "replace(t, 'aa', '<>')", columns: T, rows: one('t', ['aaa', 'aaaa', 'baab']) },
  { op: 'split_part', expr: "split_part(t, 'aa', 2)", columns: T, rows: one('t', ['aaa', 'xaaaay', 'aa']) },
  { op: 'replace', expr: 'replace(t, s, \'<>\')', columns: TT, rows: pairs('t', ['banana', '😀x😀', '', null], 's', ['a', 'an', '', '😀', null]) },
  { op: 'substring', expr: 'substring(t, x, y)', columns: { t: 'text', x: 'integer', y: 'integer' }, rows: pairs('t', ['😀x😀yz', '', null], 'x', ['-1', '0', '1', '2', '9', null]).flatMap((r) => ['0', '2', '-1', null].map((y) => ({ ...r, y }))) },
  { op: 'substring', expr: 'substr(t, x)', columns: { t: 'text', x: 'integer' }, rows: pairs('t', ['😀x😀yz', ''], 'x', ['-3', '0', '1', '4', '10']) },
  { op: 'substring', expr: 'substring(t from 2 for 3)', columns: T, rows: one('t', TEXTS) },
  { op: 'substring', expr: 'substring(t, 2, 2147483647)', columns: T, rows: one('t', ['😀x😀yz', '', null]) },
  { op: 'left', expr: 'left(t, x)', columns: { t: 'text', x: 'integer' }, rows: pairs('t', ['😀x😀yz', '', null], 'x', ['-10', '-2', '0', '2', '10', null]) },
  { op: 'right', expr: 'right(t, x)', columns: { t: 'text', x: 'integer' }, rows: pairs('t', ['😀x😀yz', '', null], 'x', ['-10', '-2', '0', '2', '10', null]) },
  { op: 'split_part', expr: 'split_part(t, s, x)', columns: { t: 'text', s: 'text', x: 'integer' }, rows: pairs('t', ['a,b,,c', '', '😀,😀'], 's', [',', '', ',,']).flatMap((r) => ['1', '2', '4', '5', '-1', '-4', '0'].map((x) => ({ ...r, x }))) },
  { op: 'regexp_replace', expr: "regexp_replace(t, '[aeiou]', '*', 'g')", columns: T, rows: one('t', TEXTS) },
  { op: 'regexp_replace', expr: "regexp_replace(t, '([a-z]+)-([a-z]+)', '\\2 \\1 [\\&] \\9 \\x')", columns: T, rows: one('t', ['first-last', 'x first-last-more', 'nomatch', '', null, 'a-b\nc-d']) },
  { op: 'regexp_replace', expr: "regexp_replace(t, '^ +', '')", columns: T, rows: one('t', ['  x  ', 'x  ', '']) },
  { op: 'regexp_replace', expr: "regexp_replace(t, 'E.', '_', 'gi')", columns: T, rows: one('t', TEXTS) },
  { op: 'regexp_replace', expr: "regexp_replace(t, 'a.b', '#')", columns: T, rows: one('t', ['a\nb', 'axb', 'a😀b']) },
  { op: 'regexp_replace', expr: "regexp_replace(t, '[0-9]{2,3}', '#', 'g')", columns: T, rows: one('t', ['1 22 333 4444 55555', '', 'x']) },
  // null handling
  { op: 'coalesce', expr: "coalesce(t, s, 'none')", columns: TT, rows: pairs('t', [null, '', 'a'], 's', [null, 'b']) },
  { op: 'coalesce', expr: 'coalesce(x, n, 0)', columns: { x: 'integer', n: 'numeric' }, rows: pairs('x', [null, '3'], 'n', [null, '2.50']) },
  { op: 'nullif', expr: "nullif(t, '')", columns: T, rows: one('t', [null, '', ' ', 'x']) },
  { op: 'nullif', expr: 'nullif(x, y)', columns: II, rows: pairs('x', [null, '0', '1'], 'y', [null, '0', '1']) },
  // arithmetic
  ...(['+', '-', '*', '/', '%'] as const).map((o) => ({ op: `integer ${o}`, expr: `x ${o} y`, columns: II, rows: pairs('x', INTS, 'y', ['0', '1', '-1', '2', '-7', '46341', null]) })),
  ...(['+', '-', '*', '/', '%'] as const).map((o) => ({ op: `bigint ${o}`, expr: `x ${o} y`, columns: { x: 'bigint', y: 'integer' }, rows: pairs('x', BIGS, 'y', ['0', '1', '-1', '3', null]) })),
  ...(['+', '-', '*', '/', '%'] as const).map((o) => ({ op: `numeric ${o}`, expr: `x ${o} y`, columns: NN, rows: pairs('x', NUMS, 'y', ['0', '1', '3', '-0.7', '0.001', '7', null]) })),
  { op: 'integer / numeric', expr: 'x / n + x * 2', columns: { x: 'integer', n: 'numeric' }, rows: pairs('x', INTS, 'n', ['3', '0.5', '-2.25']) },
  { op: 'numeric *', expr: 'n * n * n * 1000000', columns: { n: 'numeric' }, rows: one('n', ['123456789.123456789', '-0.000001', '1e-3']) },
  { op: 'concat', expr: "concat(b, '|', tz, '|', n * 2)", columns: { b: 'bigint', tz: 'timestamptz', n: 'numeric' }, rows: [{ b: '-9223372036854775808', tz: '1969-12-31 23:59:59.999999+00', n: '0.50' }] },
  { op: 'unary -', expr: '-x', columns: { x: 'integer' }, rows: one('x', INTS) },
  { op: 'unary -', expr: '-n', columns: { n: 'numeric' }, rows: one('n', NUMS) },
  { op: 'round', expr: 'round(n)', columns: { n: 'numeric' }, rows: one('n', NUMS) },
  { op: 'round', expr: 'round(n, x)', columns: { n: 'numeric', x: 'integer' }, rows: pairs('n', NUMS, 'x', ['2', '1', '0', '-1', '-3', null]) },
  // casts
  { op: '::integer', expr: 't::integer', columns: T, rows: one('t', TEXT_NUMBERS) },
  { op: '::integer', expr: 'n::integer', columns: { n: 'numeric' }, rows: one('n', [...NUMS, '2147483647.5', '-2147483648.5', '-2147483647.5']) },
  { op: '::integer', expr: 'b::integer', columns: { b: 'bigint' }, rows: one('b', BIGS) },
  { op: '::integer', expr: 'f::integer', columns: { f: 'boolean' }, rows: one('f', [null, 'true', 'false']) },
  { op: '::bigint', expr: 't::bigint', columns: T, rows: one('t', TEXT_NUMBERS) },
  { op: '::bigint', expr: 'n::bigint', columns: { n: 'numeric' }, rows: one('n', [...NUMS, '9223372036854775807.4', '9223372036854775807.5']) },
  { op: '::numeric', expr: 't::numeric', columns: T, rows: one('t', TEXT_NUMBERS) },
  { op: '::numeric(p,s)', expr: 'n::numeric(10,2)', columns: { n: 'numeric' }, rows: one('n', [...NUMS, '99999999.994', '-99999999.995', '123456789']) },
  { op: '::numeric(p,s)', expr: 't::numeric(5,-2)', columns: T, rows: one('t', ['12345', '1234567', '9999949', '9999950', '-50', '49.9']) },
  { op: '::numeric(p,s)', expr: 'x::numeric(3,1)', columns: { x: 'integer' }, rows: one('x', INTS) },
  { op: '::boolean', expr: 't::boolean', columns: T, rows: one('t', TEXT_BOOLS) },
  { op: '::boolean', expr: 'x::boolean', columns: { x: 'integer' }, rows: one('x', INTS) },
  { op: '::date', expr: 't::date', columns: T, rows: one('t', TEXT_DATES) },
  { op: '::date', expr: 'ts::date', columns: { ts: 'timestamp without time zone' }, rows: one('ts', TIMESTAMPS) },
  { op: '::date', expr: 'tz::date', columns: { tz: 'timestamp with time zone' }, rows: one('tz', [null, '1970-01-01 00:00:00+00', '2020-01-01 03:00:00+05', '1969-12-31 23:59:59.999999+00']) },
  { op: '::timestamptz', expr: 't::timestamptz', columns: T, rows: one('t', TEXT_TIMESTAMPS) },
  { op: '::timestamptz', expr: 'ts::timestamptz', columns: { ts: 'timestamp without time zone' }, rows: one('ts', TIMESTAMPS) },
  { op: '::timestamptz', expr: 'd::timestamptz', columns: { d: 'date' }, rows: one('d', DATES) },
  { op: '::uuid', expr: 't::uuid', columns: T, rows: one('t', TEXT_UUIDS) },
  { op: '::text', expr: 'concat_ws(\'|\', x::text, n::text, f::text, d::text, ts::text, tz::text, u::text, b::text)', columns: { x: 'integer', n: 'numeric(8,3)', f: 'boolean', d: 'date', ts: 'timestamp', tz: 'timestamptz', u: 'uuid', b: 'bigint' }, rows: [
    { x: '-5', n: '1.5', f: 'true', d: '1969-12-31', ts: '1969-12-31 23:59:59.5', tz: '2020-01-01 00:00:00+05', u: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', b: '-9223372036854775808' },
    { x: null, n: null, f: 'false', d: null, ts: null, tz: null, u: null, b: null },
  ] },
  // comparisons, boolean logic, CASE
  ...(['=', '<>', '<', '<=', '>', '>='] as const).map((o) => ({ op: `text ${o}`, expr: `t ${o} s`, columns: TT, rows: pairs('t', ['a', 'B', 'é', '😀', '', null], 's', ['b', 'a', 'z', '😀', '']) })),
  ...(['=', '<'] as const).map((o) => ({ op: `numeric ${o}`, expr: `x ${o} n`, columns: { x: 'integer', n: 'numeric' }, rows: pairs('x', ['1', '-1', null], 'n', ['1.00', '0.999', '-1', null]) })),
  { op: 'date <', expr: "d < '2000-01-01'", columns: { d: 'date' }, rows: one('d', DATES) },
  { op: "= 'literal'", expr: "x = '7'", columns: { x: 'integer' }, rows: one('x', INTS) },
  { op: "= 'literal'", expr: "x = ' 7 '", columns: { x: 'integer' }, rows: one('x', ['7']) },
  { op: 'AND OR NOT', expr: 'CASE WHEN (x > 0 AND f) OR NOT (y IS NULL) THEN 1 ELSE 0 END', columns: { x: 'integer', y: 'integer', f: 'boolean' }, rows: pairs('x', [null, '1', '-1'], 'f', [null, 'true', 'false']).flatMap((r) => [null, '0'].map((y) => ({ ...r, y }))) },
  { op: 'AND short-circuit', expr: 'CASE WHEN y <> 0 AND x / y > 1 THEN x / y ELSE -1 END', columns: II, rows: pairs('x', ['10', '1'], 'y', ['0', '3']) },
  { op: 'IS [NOT] NULL', expr: "CASE WHEN t IS NULL THEN 'none' WHEN t IS NOT NULL AND t = '' THEN 'empty' ELSE t END", columns: T, rows: one('t', [null, '', 'x']) },
  { op: 'CASE', expr: 'CASE WHEN x > 1 THEN n WHEN x = 1 THEN x END', columns: { x: 'integer', n: 'numeric' }, rows: pairs('x', [null, '0', '1', '2'], 'n', [null, '2.50']) },
  { op: 'CASE', expr: "CASE x WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END", columns: { x: 'integer' }, rows: one('x', [null, '1', '2', '3']) },
  // the issue's own derivations
  { op: 'full_name', expr: "first_name || ' ' || last_name", columns: { first_name: 'character varying(40)', last_name: 'character varying(40)' }, rows: pairs('first_name', ['Ada', null, ''], 'last_name', ['Lovelace', null]) },
  { op: 'email', expr: 'lower(trim(email))', columns: { email: 'text' }, rows: one('email', ['  Ada@Example.COM ', null, 'ÉMILE@X.FR']) },
  { op: 'hired_on', expr: 'hire_date::date', columns: { hire_date: 'timestamp without time zone' }, rows: one('hire_date', TIMESTAMPS) },
  { op: 'price', expr: 'unit_price::numeric(10,2)', columns: { unit_price: 'numeric' }, rows: one('unit_price', ['0.99', '1.995', '-1.995', '99999999.999', null]) },
  // Pagila's shapes: smallint read as integer (32767 * 2 overflows smallint, not integer), character(n) as text without its padding
  { op: 'smallint', expr: 'length * rental_duration', columns: { length: 'smallint', rental_duration: 'smallint' }, rows: pairs('length', ['32767', '-32768', '86', null], 'rental_duration', ['2', '7', null]) },
  { op: 'smallint', expr: 'length / 60 + length % 60', columns: { length: 'smallint' }, rows: one('length', ['0', '59', '185', '-61', null]) },
  { op: 'character(n)', expr: "name || '|' || initcap(lower(name))", columns: { name: 'character(20)' }, rows: one('name', ['English', ' Japanese  ', '', null, 'ǆungla', '😀x']) },
  { op: 'character(n)', expr: "CASE WHEN code = 'GB' THEN left(code, 1) ELSE code || '!' END", columns: { code: 'character(3)' }, rows: one('code', ['GB', 'GB ', ' GB', 'USA', '', null]) },
];
