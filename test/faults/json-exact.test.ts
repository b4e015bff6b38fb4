import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareProgram, targetTableOf } from '../../src/chain.js';
import { validateMigration } from '../../src/validation/validate.js';
import { completed, runOnce, useFaultTable, withConnections } from './fault-case.js';

/**
 * json and jsonb values arrive as they left: json byte for byte (key order, duplicate keys,
 * whitespace), jsonb with its numbers' exact decimal text (1.10 stays 1.10; integers beyond
 * 2^53 keep every digit). A round trip through JSON.parse/JSON.stringify loses all of these.
 */
const DOCS: Array<[string, string]> = [
  ['{"fee": 1.10}', '{"fee":  1.10 , "fee": 2.50}'],
  ['{"amount": 1.0, "n": [1.0, [2.00, [3.000]]]}', '[1.0,   2.00]'],
  ['{"id": 12345678901234567890}', '{"id": 12345678901234567890, "id": -0}'],
  ['{"tiny": 1e-7, "neg": -0.0}', '{ "z": 1, "a": 2 }'],
  ['{"grüße": {"ключ": "値"}, "emoji": "🙂"}', '{"ключ":1,"ключ":"двойной"}'],
  ['[[[]], {}, [1.5e300, "x\\ty"]]', '\n {"tab":\t"\\u0041"}\n'],
  ['123456789012345678901234567890.000100', '1e400'],
];
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

const LEGACY = `
CREATE TABLE ledger_entries (entry_no serial PRIMARY KEY, book integer NOT NULL, payload jsonb, raw_doc json);
INSERT INTO ledger_entries (book, payload, raw_doc) VALUES
${DOCS.map(([b, j]) => `  (2, ${literal(b)}, ${literal(j)})`).join(',\n')},
  (2, NULL, NULL), (5, '{"other": 1.10}', '{"other":1.10}');
`;

const TARGET = `
CREATE TABLE postings (ref uuid PRIMARY KEY DEFAULT gen_random_uuid(), entry_no integer UNIQUE, payload jsonb, raw_doc json);
`;

describe('json and jsonb values arrive exactly', () => {
  const ft = useFaultTable({ prefix: 'faultjson_', legacy: LEGACY, target: TARGET, table: { source: 'ledger_entries', target: 'postings', filter: { column: 'book', value: 2 }, description: 'move the ledger entries of book 2 into postings', batchSize: 3 } });

  it('a run copies json byte-equal and jsonb value-equal, and validates', async () => {
    const { driver, pair, work, plan, analysis } = ft;
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'honest') });
    const r = completed(await runOnce(pair, { plan, analysis, program }, driver));
    const source = (await pair.sql('legacy', 'SELECT entry_no, payload::text AS payload, raw_doc::text AS raw_doc FROM ledger_entries WHERE book = 2 ORDER BY entry_no')).rows;
    const target = (await pair.sql('target', 'SELECT entry_no, payload::text AS payload, raw_doc::text AS raw_doc FROM postings ORDER BY entry_no')).rows;
    expect(source).toHaveLength(DOCS.length + 1);
    // jsonb's text output is canonical, so equal text is equal value, numbers' scale included.
    expect(target).toEqual(source);
    expect(target.find((t) => t.payload === '{"fee": 1.10}')).toBeDefined();
    expect(target.find((t) => t.raw_doc === '{"id": 12345678901234567890, "id": -0}')).toBeDefined();
    // jsonb = in the target against the legacy text, as PostgreSQL compares it.
    for (const s of source) {
      if (s.payload === null) continue;
      const eq = await pair.sql('target', `SELECT payload = ${literal(s.payload)}::jsonb AS eq FROM postings WHERE entry_no = ${Number(s.entry_no)}`);
      expect(eq.rows[0]!.eq, s.payload).toBe(true);
    }
    for (const method of ['row_walk', 'range_checksum'] as const) {
      const report = await withConnections(pair, (conn) =>
        validateMigration({ migrationId: r.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), method }),
      );
      expect(report.status, `${method}: ${JSON.stringify(report.checks.filter((c) => c.status !== 'pass'))}`).toBe('passed');
    }
  });

  it('a jsonb value changed in the target after the run fails the row walk', async () => {
    const { pair, plan, analysis } = ft;
    const ids = (await pair.sql('target', `SELECT entry_no FROM postings WHERE payload = '{"fee": 1.10}'::jsonb`)).rows;
    expect(ids).toHaveLength(1);
    const migrationId = Number((await pair.sql('target', 'SELECT max(id) AS id FROM ferry_control.migration_control')).rows[0]!.id);
    await pair.sql('target', `UPDATE postings SET payload = '{"fee": 1.11}' WHERE entry_no = ${Number(ids[0]!.entry_no)}`);
    const report = await withConnections(pair, (conn) =>
      validateMigration({ migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), method: 'row_walk' }),
    );
    expect(report.status).toBe('failed');
    expect(JSON.stringify(report.checks.find((c) => c.status === 'fail'))).toContain('1.11');
    // Put back, so the next case sees only its own change.
    await pair.sql('target', `UPDATE postings SET payload = '{"fee": 1.10}' WHERE entry_no = ${Number(ids[0]!.entry_no)}`);
  });

  it('a json value whose duplicate key is dropped in the target fails the row walk (json keeps its text)', async () => {
    const { pair, plan, analysis } = ft;
    const ids = (await pair.sql('target', `SELECT entry_no FROM postings WHERE raw_doc::text = '{"ключ":1,"ключ":"двойной"}'`)).rows;
    expect(ids).toHaveLength(1);
    const migrationId = Number((await pair.sql('target', 'SELECT max(id) AS id FROM ferry_control.migration_control')).rows[0]!.id);
    await pair.sql('target', `UPDATE postings SET raw_doc = '{"ключ":"двойной"}' WHERE entry_no = ${Number(ids[0]!.entry_no)}`);
    const report = await withConnections(pair, (conn) =>
      validateMigration({ migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), method: 'row_walk' }),
    );
    expect(report.status).toBe('failed');
    const failing = JSON.stringify(report.checks.filter((c) => c.status === 'fail'));
    expect(failing).toContain('raw_doc');
    expect(failing).not.toContain('payload');
  });
});
