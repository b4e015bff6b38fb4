import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TypeCategory } from '../../src/core/artifacts/schema-analysis.js';
import { numericText, sameValue } from '../../src/core/plan/expected-row.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

/**
 * The per-row check compares a value as the target column will hold it. Every verdict here
 * is also asked of PostgreSQL itself (the two values cast to the column type, then compared
 * as stored), so the table below cannot drift from what the database does.
 */
type Case = { type: string; category: TypeCategory; a: unknown; b: unknown; same: boolean };

const col = (category: TypeCategory, pgType: string) => ({ category, pgType });

const CASES: Case[] = [
  // Text is text: numbers-looking strings are not numbers.
  { type: 'text', category: 'string', a: '02134', b: '2134', same: false },
  { type: 'text', category: 'string', a: ' 42', b: '42', same: false },
  { type: 'text', category: 'string', a: '0x10', b: '16', same: false },
  { type: 'text', category: 'string', a: '1e3', b: '1000', same: false },
  { type: 'text', category: 'string', a: '+4930123456', b: '4930123456', same: false },
  { type: 'text', category: 'string', a: '1.50', b: '1.5', same: false },
  { type: 'character varying(12)', category: 'string', a: '00', b: '0', same: false },
  { type: 'text', category: 'string', a: 'naïve 😀', b: 'naïve 😀', same: true },
  { type: 'text', category: 'string', a: '', b: '', same: true },
  // Integers as BigInt: no float rounding.
  { type: 'bigint', category: 'bigint', a: '9007199254740993', b: 9007199254740992, same: false },
  { type: 'bigint', category: 'bigint', a: '9007199254740993', b: '9007199254740992', same: false },
  { type: 'bigint', category: 'bigint', a: '9223372036854775807', b: '9223372036854775807', same: true },
  { type: 'bigint', category: 'bigint', a: '-42', b: -42, same: true },
  { type: 'integer', category: 'integer', a: 2134, b: '2134', same: true },
  { type: 'integer', category: 'integer', a: ' 42', b: 42, same: true },
  { type: 'integer', category: 'integer', a: '+7', b: 7, same: true },
  { type: 'integer', category: 'integer', a: 7, b: 8, same: false },
  { type: 'smallint', category: 'integer', a: '-0', b: 0, same: true },
  // Numerics by the decimal text PostgreSQL stores.
  { type: 'numeric', category: 'numeric', a: '1.50', b: '1.5', same: false },
  { type: 'numeric(10,2)', category: 'numeric', a: '1.50', b: '1.5', same: true },
  { type: 'numeric(10,2)', category: 'numeric', a: '1.505', b: '1.51', same: true },
  { type: 'numeric(10,2)', category: 'numeric', a: '-1.505', b: '-1.51', same: true },
  { type: 'numeric(10,2)', category: 'numeric', a: '1.504', b: '1.51', same: false },
  { type: 'numeric(10,0)', category: 'numeric', a: '2.5', b: '3', same: true },
  { type: 'numeric', category: 'numeric', a: '1e3', b: '1000', same: true },
  { type: 'numeric', category: 'numeric', a: '1000.0', b: '1000', same: false },
  { type: 'numeric', category: 'numeric', a: 12.25, b: '12.25', same: true },
  { type: 'numeric', category: 'numeric', a: '007.10', b: '7.10', same: true },
  { type: 'numeric', category: 'numeric', a: '-0.00', b: '0.00', same: true },
  { type: 'numeric', category: 'numeric', a: '123456789012345678901234567890.1', b: '123456789012345678901234567890.2', same: false },
  // Booleans.
  { type: 'boolean', category: 'boolean', a: true, b: 't', same: true },
  { type: 'boolean', category: 'boolean', a: false, b: 'no', same: true },
  { type: 'boolean', category: 'boolean', a: true, b: false, same: false },
  // Dates and timestamps.
  { type: 'date', category: 'date', a: '2024-02-29', b: '2024-02-29', same: true },
  { type: 'date', category: 'date', a: '2024-02-29', b: '2024-03-01', same: false },
  { type: 'timestamp without time zone', category: 'timestamp', a: '2024-05-01 10:00:00', b: '2024-05-01T10:00:00.000', same: true },
  { type: 'timestamp without time zone', category: 'timestamp', a: '2024-05-01 10:00:00', b: '2024-05-01 10:00:00.000001', same: false },
  { type: 'timestamp with time zone', category: 'timestamp', a: '2024-05-01 12:00:00+02', b: '2024-05-01T10:00:00.000Z', same: true },
  { type: 'timestamp with time zone', category: 'timestamp', a: '2024-05-01 12:00:00+02', b: '2024-05-01T12:00:00.000Z', same: false },
  // uuid: case is not part of the value.
  { type: 'uuid', category: 'uuid', a: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', b: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', same: true },
  { type: 'uuid', category: 'uuid', a: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', b: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', same: false },
  // json by structure.
  { type: 'jsonb', category: 'json', a: { b: 1, a: [1, 'x'] }, b: '{"a": [1, "x"], "b": 1}', same: true },
  { type: 'jsonb', category: 'json', a: { a: '02134' }, b: { a: '2134' }, same: false },
  { type: 'jsonb', category: 'json', a: { a: '1' }, b: { a: 1 }, same: false },
  // jsonb as its text (how json travels): numbers as exact decimals, the last duplicate key, decoded strings.
  { type: 'jsonb', category: 'json', a: '{"fee": 1.10}', b: '{"fee":1.1}', same: true },
  { type: 'jsonb', category: 'json', a: '{"fee": 1.10}', b: '{"fee": 1.11}', same: false },
  { type: 'jsonb', category: 'json', a: '{"id": 12345678901234567890}', b: '{"id": 12345678901234567891}', same: false },
  { type: 'jsonb', category: 'json', a: '[1e-7, -0, 2.5E+2]', b: '[0.0000001, 0, 250]', same: true },
  { type: 'jsonb', category: 'json', a: '{"k": 1, "k": [ "x" ]}', b: '{"k":["x"]}', same: true },
  { type: 'jsonb', category: 'json', a: '{"k": 1, "k": [ "x" ]}', b: '{"k":1}', same: false },
  { type: 'jsonb', category: 'json', a: '{"gr\\u00fc\\u00dfe": "\\u00e9"}', b: '{"grüße": "é"}', same: true },
  { type: 'jsonb', category: 'json', a: '{"b": {"y": [1, 2]}, "a": null}', b: '{"a": null, "b": {"y": [2, 1]}}', same: false },
];

/** json (not jsonb) keeps its text: two texts are the same value only when they are the same text. */
const JSON_TEXT_CASES = [
  { a: '{"a": 1.10}', b: '{"a": 1.10}', same: true },
  { a: '{"a": 1.10}', b: '{"a": 1.1}', same: false },
  { a: '{"a":1, "a":2}', b: '{"a":2}', same: false },
  { a: '{"z":1,"a":2}', b: '{"a":2,"z":1}', same: false },
  { a: '{"a": 1}', b: '{"a":  1}', same: false },
];

/** A value as a SQL parameter: the text COPY would write for it. */
const param = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

describe('sameValue compares by the target column type', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('samevalue_');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it.each(CASES)('$type: $a vs $b → same=$same, as PostgreSQL stores them', async ({ type, category, a, b, same }) => {
    expect(sameValue(col(category, type), a, b)).toBe(same);
    expect(sameValue(col(category, type), b, a)).toBe(same);
    // jsonb compares by value; every other type by the text of what it stores.
    const stored = category === 'json' ? `$1::${type} = $2::${type}` : `$1::${type}::text = $2::${type}::text`;
    const r = await client.query<{ same: boolean }>(`SELECT ${stored} AS same`, [param(a), param(b)]);
    expect(r.rows[0]!.same, 'PostgreSQL agrees').toBe(same);
  });

  it.each(JSON_TEXT_CASES)('json: $a vs $b → same=$same, as json::text keeps them', async ({ a, b, same }) => {
    expect(sameValue(col('json', 'json'), a, b)).toBe(same);
    expect(sameValue(col('json', 'json'), b, a)).toBe(same);
    const r = await client.query<{ same: boolean }>('SELECT $1::json::text = $2::json::text AS same', [a, b]);
    expect(r.rows[0]!.same, 'PostgreSQL agrees').toBe(same);
  });

  it('numericText prints what numeric(p,s) stores, for random decimals (seeded), as PostgreSQL does', async () => {
    let seed = 20261129;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const inputs: string[] = [];
    for (let i = 0; i < 300; i++) {
      const whole = String(next() % 100000).padStart(next() % 3 === 0 ? 7 : 1, '0');
      const frac = String(next()).slice(0, next() % 7);
      const exp = next() % 5 === 0 ? `e${(next() % 7) - 3}` : '';
      inputs.push(`${next() % 4 === 0 ? '-' : next() % 4 === 0 ? '+' : ''}${whole}${frac ? `.${frac}` : ''}${exp}`);
    }
    for (const scale of [null, 0, 2, 4]) {
      const type = scale === null ? 'numeric' : `numeric(30,${scale})`;
      const r = await client.query<{ t: string }>(`SELECT v::${type}::text AS t FROM unnest($1::text[]) WITH ORDINALITY u(v, i) ORDER BY i`, [inputs]);
      expect(inputs.map((v) => numericText(v, scale))).toEqual(r.rows.map((x) => x.t));
    }
  });
});
