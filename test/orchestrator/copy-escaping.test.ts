import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyLines, CopyValueError, copyIn, copyLine, copyLinesAfter, copyValue } from '../../src/orchestrator/copy.js';
import { faultSeed } from '../faults/fault-case.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';

/**
 * Whatever a string holds, COPY text format carries it unchanged: random keys and values
 * from an alphabet of every character COPY reads specially (and some it does not) are
 * written through copyLine/copyIn into real PostgreSQL and read back equal.
 */
const PIECES = [
  '\\', '\t', '\n', '\r', '\r\n', '\\.', '\\N', 'N', '.', '\\\\', '\\t', '\\n', '\\0', '\\000', '\\x00', '\\x41', '\\101',
  '\u0001', '\u001b[2K', '\b', '\f', '\v', '\u007f', '\u0085', '\u2028', '\uFEFF', '\uFFFD', '😀', '𝄞', '👩‍👩‍👧', 'é', 'ß',
  'adm', 'in', ' ', '"', "'", ',', '{', '}', 'NULL', '\\N\t\\N',
];

function randomString(int: (lo: number, hi: number) => number): string {
  let s = '';
  const n = int(0, 12);
  for (let i = 0; i < n; i++) s += PIECES[int(0, PIECES.length - 1)]!;
  return s;
}

describe('COPY text format carries every string as it is', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('copyesc_');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`
      CREATE TABLE shelf_tags (seq integer PRIMARY KEY, tag_key text NOT NULL UNIQUE, body text, extra jsonb, label varchar(500));
      CREATE TABLE lone_column (v text);`);
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('random keys and values with \\, tab, newline, CR, \\., \\N, NUL-adjacent and non-BMP characters read back equal (seeded)', async () => {
    const { int } = faultSeed('copy escaping');
    const rows: Array<[number, string, string | null, unknown, string]> = [];
    const keys = new Set<string>();
    while (rows.length < 2000) {
      const key = randomString(int);
      if (keys.has(key)) continue;
      keys.add(key);
      const body = int(0, 9) === 0 ? null : randomString(int);
      rows.push([rows.length, key, body, { [randomString(int)]: randomString(int), list: [randomString(int)] }, randomString(int)]);
    }
    // The edge cases by name, whatever the seed drew.
    for (const s of ['adm\\in', '\\.', '\\N', '', '\\', 'a\\\tb', '\\.\n\\.', '😀\\😀']) rows.push([rows.length, `fixed:${s}`, s, { [s]: s }, s]);
    const inserted = await copyIn(client, 'shelf_tags', ['seq', 'tag_key', 'body', 'extra', 'label'], rows.map(copyLine));
    expect(inserted).toBe(rows.length);
    const back = await client.query<{ seq: number; tag_key: string; body: string | null; extra: unknown; label: string }>(
      'SELECT seq, tag_key, body, extra, label FROM shelf_tags ORDER BY seq',
    );
    expect(back.rows.map((r) => [r.seq, r.tag_key, r.body, r.extra, r.label])).toEqual(rows);
    // The null body is NULL, not the text "\N".
    const nulls = rows.filter((r) => r[2] === null).length;
    expect(Number((await client.query('SELECT count(*) AS n FROM shelf_tags WHERE body IS NULL')).rows[0].n)).toBe(nulls);
  });

  it('a value that is exactly \\. (the end-of-data marker) on a line of its own is data, and the lines after it are read', async () => {
    const values = ['\\.', 'after', '\\.', '\\', '.'];
    expect(await copyIn(client, 'lone_column', ['v'], values.map((v) => copyLine([v])))).toBe(values.length);
    expect((await client.query('SELECT v FROM lone_column')).rows.map((r) => r.v)).toEqual(values);
  });

  it('lines sharing their first values (the mapping lines) escape the shared ones too, and name the right position', async () => {
    const { int } = faultSeed('copy shared prefix');
    const shared = [`src\\${randomString(int)}`, `tgt\t${randomString(int)}`];
    const line = copyLinesAfter(shared);
    const own = Array.from({ length: 300 }, (_, i) => [`${i}:${randomString(int)}`, randomString(int)] as const);
    await client.query('CREATE TABLE pairs_seen (from_t text, to_t text, legacy text, fresh text)');
    await copyIn(client, 'pairs_seen', ['from_t', 'to_t', 'legacy', 'fresh'], own.map(([a, b]) => line(a, b)));
    const back = await client.query('SELECT from_t, to_t, legacy, fresh FROM pairs_seen');
    expect(back.rows.map((r) => [r.from_t, r.to_t, r.legacy, r.fresh]).sort()).toEqual(own.map(([a, b]) => [...shared, a, b]).sort());
    expect(() => line('ok', 'x\u0000')).toThrow(expect.objectContaining({ code: 'COPY_VALUE_HAS_NUL', index: 3 }));
  });

  it('a batch held as bytes (CopyLines) carries the same text, and its line ranges cut at line ends whatever the characters', async () => {
    const { int } = faultSeed('copy lines as bytes');
    // Many lines of multi-byte and escaped text, enough to outgrow the first buffer several times.
    const rows = Array.from({ length: 3000 }, (_, i) => [`bin-${i}`, `${randomString(int)}😀é${randomString(int)}`, int(0, 5) === 0 ? null : randomString(int)] as const);
    const lines = new CopyLines();
    for (const r of rows) lines.push(copyLine(r));
    expect(lines.length).toBe(rows.length);
    expect(lines.line(7)).toBe(copyLine(rows[7]!));
    expect(lines.bytes(0, 0).length).toBe(0);
    expect(Buffer.concat([lines.bytes(0, 1200), lines.bytes(1200, 1201), lines.bytes(1201)]).equals(lines.bytes())).toBe(true);
    expect(lines.bytes().toString('utf8')).toBe(rows.map(copyLine).join(''));
    await client.query('CREATE TABLE bin_labels (code text PRIMARY KEY, label text NOT NULL, remark text)');
    // A range goes in alone (the bisection of a failed batch copies ranges), then the rest.
    expect(await copyIn(client, 'bin_labels', ['code', 'label', 'remark'], lines.bytes(100, 250))).toBe(150);
    expect(await copyIn(client, 'bin_labels', ['code', 'label', 'remark'], Buffer.concat([lines.bytes(0, 100), lines.bytes(250)]))).toBe(rows.length - 150);
    const back = await client.query<{ code: string; label: string; remark: string | null }>('SELECT code, label, remark FROM bin_labels ORDER BY substr(code, 5)::int');
    expect(back.rows.map((r) => [r.code, r.label, r.remark])).toEqual(rows.map((r) => [...r]));
  });

  it('CopyLines cuts at line ends whether a stretch of lines is all ASCII or not, read while it grows and after', () => {
    const ascii = (i: number) => copyLine([`a-${i}`, 'plain text, no escapes'.repeat(i % 5)]);
    const wide = (i: number) => copyLine([`w-${i}`, `naïve 😀 ${'ß'.repeat(i % 7)}`, i % 3 === 0 ? null : 'tab\there']);
    const made: string[] = [];
    const lines = new CopyLines();
    const add = (line: string) => {
      made.push(line);
      lines.push(line);
    };
    // Read with two lines in it.
    add(ascii(0));
    add(wide(1));
    expect(lines.length).toBe(2);
    expect(lines.line(1)).toBe(made[1]);
    // Thousands of ASCII lines (the buffer grows several times), then mixed ones, then ASCII again.
    for (let i = 2; i < 4000; i++) add(ascii(i));
    for (let i = 4000; i < 6000; i++) add(i % 2 ? wide(i) : ascii(i));
    expect(lines.line(3999)).toBe(made[3999]);
    for (let i = 6000; i < 9000; i++) add(ascii(i));
    expect(lines.length).toBe(made.length);
    for (const i of [0, 1, 2, 1999, 3999, 4000, 4001, 5999, 6000, 8999]) expect(lines.line(i)).toBe(made[i]);
    expect(lines.bytes(3990, 4010).toString('utf8')).toBe(made.slice(3990, 4010).join(''));
    expect(lines.bytes().toString('utf8')).toBe(made.join(''));
    expect(lines.bytes().length).toBe(Buffer.byteLength(made.join(''), 'utf8'));
  });

  it('NUL and half a surrogate pair cannot be carried: a typed error naming the position, never a changed value', () => {
    const nul = (() => {
      try {
        copyLine(['ok', 'bad\u0000value']);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(nul).toBeInstanceOf(CopyValueError);
    expect(nul).toMatchObject({ code: 'COPY_VALUE_HAS_NUL', index: 1, at: 3 });
    expect(() => copyValue('x\uD83D')).toThrow(expect.objectContaining({ code: 'COPY_VALUE_BAD_UNICODE', at: 1 }));
    expect(() => copyValue('\uDE00y')).toThrow(expect.objectContaining({ code: 'COPY_VALUE_BAD_UNICODE', at: 0 }));
    // A whole pair is fine, and JSON escapes NUL itself (jsonb then decides).
    expect(copyValue('\uD83D\uDE00')).toBe('😀');
    expect(copyValue({ a: '\u0000' })).toBe('{"a":"\\\\u0000"}');
  });
});
