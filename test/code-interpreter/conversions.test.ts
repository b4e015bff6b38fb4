import { beforeAll, describe, expect, it } from 'vitest';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { NameAllocator, pascalCase, propertyAccess, propertyKey, tsString, upperSnake } from '../../agents/code-interpreter/ts-text.js';
import type { GeneratedScript } from '../../src/core/artifacts/generated-script.js';
import type { ColumnMapping } from '../../src/core/artifacts/migration-plan.js';
import type { TypeCategory } from '../../src/core/artifacts/schema-analysis.js';
import { analysisFixture, planFixture } from './fixtures.js';
import { loadTransform, type Transform } from './load.js';

/** One target column per conversion, each fed from a source column of the category it converts from. */
const CASTS: Array<{ target: string; pgType: string; category: TypeCategory; source: string }> = [
  { target: 'big_from_int', pgType: 'bigint', category: 'bigint', source: 'n_int' },
  { target: 'big_from_text', pgType: 'bigint', category: 'bigint', source: 't_big' },
  { target: 'num_from_float', pgType: 'numeric', category: 'numeric', source: 'n_float' },
  { target: 'num_from_text', pgType: 'numeric(10,2)', category: 'numeric', source: 't_num' },
  { target: 'float_from_num', pgType: 'double precision', category: 'float', source: 'n_num' },
  { target: 'text_from_bool', pgType: 'text', category: 'string', source: 'b' },
  { target: 'text_from_json', pgType: 'text', category: 'string', source: 'j' },
  { target: 'text_from_uuid', pgType: 'text', category: 'string', source: 's_uuid' },
  { target: 'bool_from_text', pgType: 'boolean', category: 'boolean', source: 't_bool' },
  { target: 'bool_from_int', pgType: 'boolean', category: 'boolean', source: 'n_int' },
  { target: 'int_from_bool', pgType: 'integer', category: 'integer', source: 'b' },
  { target: 'uuid_from_text', pgType: 'uuid', category: 'uuid', source: 't_uuid' },
  { target: 'json_from_text', pgType: 'jsonb', category: 'json', source: 't_json' },
  { target: 'enum_from_text', pgType: 'technician_type', category: 'enum', source: 't_enum' },
  { target: 'ts_from_date', pgType: 'timestamp with time zone', category: 'timestamp', source: 'd' },
];

const SOURCE = {
  n_int: { pgType: 'integer', category: 'integer' },
  n_float: { pgType: 'double precision', category: 'float' },
  n_num: { pgType: 'numeric', category: 'numeric' },
  b: { pgType: 'boolean', category: 'boolean' },
  j: { pgType: 'jsonb', category: 'json' },
  s_uuid: { pgType: 'uuid', category: 'uuid' },
  d: { pgType: 'date', category: 'date' },
  t_big: { pgType: 'text', category: 'string' },
  t_num: { pgType: 'text', category: 'string' },
  t_bool: { pgType: 'text', category: 'string' },
  t_uuid: { pgType: 'text', category: 'string' },
  t_json: { pgType: 'text', category: 'string' },
  t_enum: { pgType: 'text', category: 'string' },
} as const;

const ROW = {
  id: 1,
  name: 'Supervisor',
  abbrev: null,
  n_int: 42,
  n_float: 1.5,
  n_num: '2.50',
  b: true,
  // json/jsonb arrives as its text (src/db/connect.ts) and is passed on verbatim.
  j: '{"a": [1.10, "x"]}',
  s_uuid: '0b5e0f4a-9c1d-4e2b-8a7f-3d6c5b4a3921',
  d: '2024-02-29',
  t_big: ' 9007199254740993 ',
  t_num: '-3.25',
  t_bool: 'Yes',
  t_uuid: '7F0C2A3D-1F5E-4830-8FEC-07E631F56F2E',
  t_json: '{"b": null}',
  t_enum: 'remote',
};

describe('Code Interpreter casts', () => {
  let script: GeneratedScript;
  let transform: Transform;

  beforeAll(async () => {
    const analysis = analysisFixture({
      extraSource: SOURCE,
      extraTarget: Object.fromEntries(
        CASTS.map((c) => [
          c.target,
          { pgType: c.pgType, category: c.category, ...(c.category === 'enum' ? { enumType: 'public.technician_type' } : {}) },
        ]),
      ),
    });
    const plan = planFixture(analysis, {
      extraSourceColumns: Object.keys(SOURCE),
      extraColumns: CASTS.map(
        (c): ColumnMapping => ({
          target: c.target,
          targetType: c.pgType,
          origin: { kind: 'cast', source: c.source, to: c.category },
          reason: `${c.source} as ${c.pgType}`,
          confidence: 0.9,
          status: 'mapped',
        }),
      ),
    });
    script = await generateScript({ plan, analysis });
    transform = await loadTransform(script);
  });

  it('type-checks every helper it uses, and carries only those', () => {
    expect(script.typecheck.ok).toBe(true);
    for (const helper of ['toBigintText', 'toNumericText', 'toFloat', 'toBoolean', 'toUuid', 'parseJson', 'toEnumValue']) {
      expect(script.program).toMatch(new RegExp(`\\nfunction ${helper}[<(]`));
    }
    expect(script.program).not.toMatch(/function (toInteger|notNull)[<(]/);
    expect(script.program).toContain("const TECHNICIAN_TYPE_VALUES: readonly TechnicianType[] = ['designing', 'manufacturing', 'master', 'quality_control', 'remote', 'sectioning'];");
  });

  it('converts each value into the JSON form of its target column', () => {
    expect(transform(ROW)).toMatchObject({
      big_from_int: '42',
      big_from_text: '9007199254740993',
      num_from_float: '1.5',
      num_from_text: '-3.25',
      float_from_num: 2.5,
      text_from_bool: 'true',
      text_from_json: '{"a": [1.10, "x"]}',
      text_from_uuid: '0b5e0f4a-9c1d-4e2b-8a7f-3d6c5b4a3921',
      bool_from_text: true,
      bool_from_int: true,
      int_from_bool: 1,
      uuid_from_text: '7F0C2A3D-1F5E-4830-8FEC-07E631F56F2E',
      json_from_text: '{"b": null}',
      enum_from_text: 'remote',
      ts_from_date: '2024-02-29',
    });
  });

  it('keeps null as null through every conversion', () => {
    const nulls = Object.fromEntries(Object.keys(SOURCE).map((k) => [k, null]));
    const out = transform({ ...ROW, ...nulls });
    for (const c of CASTS) expect(out[c.target], c.target).toBeNull();
  });

  it('throws naming the column and the value it cannot convert', () => {
    const cases: Array<[Partial<typeof ROW>, string]> = [
      [{ t_big: '12.0' }, 'big_from_text ← t_big: "12.0" is not a bigint'],
      [{ t_big: '9223372036854775808' }, 'big_from_text ← t_big: "9223372036854775808" is not a bigint'],
      [{ t_num: '1,5' }, 'num_from_text ← t_num: "1,5" is not a number'],
      [{ n_num: 'NaN' }, 'float_from_num ← n_num: "NaN" is not a number'],
      [{ t_bool: 'maybe' }, 't_bool: "maybe" is not a boolean'],
      [{ t_uuid: 'not-a-uuid' }, 'uuid_from_text ← t_uuid: "not-a-uuid" is not a uuid'],
      [{ t_json: '{oops' }, 'json_from_text ← t_json: the text is not valid JSON'],
      [{ t_enum: 'janitor' }, 'enum_from_text ← t_enum: "janitor" is not one of designing, manufacturing, master, quality_control, remote, sectioning'],
    ];
    for (const [change, message] of cases) expect(() => transform({ ...ROW, ...change })).toThrowError(message);
  });
});

describe('TypeScript text helpers', () => {
  it('quotes strings so that no content can end or bend them', () => {
    expect(tsString("it's")).toBe("'it\\'s'");
    expect(tsString('a\\b')).toBe("'a\\\\b'");
    expect(tsString('line\nnext\u2028')).toBe("'line\\nnext\\u2028'");
    expect(tsString('naïve 🚚')).toBe("'naïve 🚚'");
    expect(tsString('\ud800')).toBe("'\\ud800'");
  });

  it('writes property names bare only when they are identifiers', () => {
    expect(propertyKey('order')).toBe('order');
    expect(propertyKey('weird col')).toBe("'weird col'");
    expect(propertyKey('1st')).toBe("'1st'");
    expect(propertyAccess('row', 'order')).toBe('row.order');
    expect(propertyAccess('row', "it's")).toBe("row['it\\'s']");
  });

  it('makes type and constant names from any database name, without collisions', () => {
    expect(pascalCase('technician_type')).toBe('TechnicianType');
    expect(pascalCase('2fa status')).toBe('T2faStatus');
    expect(pascalCase('***')).toBe('Unnamed');
    expect(upperSnake('roleType')).toBe('ROLE_TYPE');
    expect(upperSnake('weird col')).toBe('WEIRD_COL');
    const names = new NameAllocator(['SourceRow']);
    expect(names.take('SourceRow', 'TargetSourceRow')).toBe('TargetSourceRow');
    expect(names.take('SourceRow', 'TargetSourceRow')).toBe('SourceRow2');
  });
});
