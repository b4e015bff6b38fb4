import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleScript, generateScript } from '../../agents/code-interpreter/index.js';
import { prepareProgram, targetTableOf } from '../../src/chain.js';
import { validateMigration } from '../../src/validation/validate.js';
import { completed, failed, runOnce, useFaultTable, withConnections } from './fault-case.js';

/**
 * Text that looks like a number is still text. A wrong program that turns the postcode
 * "02134" into "2134" (or drops a phone number's "+") must have its batch refused by the row
 * check, and a target row changed that way after a run must fail the row walk.
 */
const LEGACY = `
CREATE TABLE depots (depot_no serial PRIMARY KEY, region integer NOT NULL, zip text NOT NULL, phone text);
INSERT INTO depots (region, zip, phone)
  SELECT CASE WHEN g % 4 = 0 THEN 8 ELSE 3 END, lpad((g * 37 % 99999)::text, 5, '0'), CASE WHEN g % 6 = 0 THEN NULL ELSE '+49 30 ' || (g * 7919) END
    FROM generate_series(1, 90) g;
UPDATE depots SET zip = '02134', phone = '+4930123456' WHERE depot_no = 41;
`;

const TARGET = `
CREATE TABLE outlets (ref uuid PRIMARY KEY DEFAULT gen_random_uuid(), depot_no integer UNIQUE, zip text NOT NULL, phone text);
`;

describe('text that looks like a number is compared as text', () => {
  const ft = useFaultTable({ prefix: 'faultnum_', legacy: LEGACY, target: TARGET, table: { source: 'depots', target: 'outlets', filter: { column: 'region', value: 3 }, description: 'move the depots of region 3 into outlets', batchSize: 20 } });

  const outlets = async () => Number((await ft.pair.sql('target', 'SELECT count(*) AS n FROM outlets')).rows[0]!.n);

  /** The generated program with one row's value rewritten the way a careless transform would. */
  async function wrongProgram(name: string, rewrite: string) {
    const { work, plan, analysis } = ft;
    const base = await generateScript({ plan, analysis });
    const forged = base.program.replace(
      /export function transform\(row: SourceRow\): ProgramOutput \{/,
      (m) => `${m}\n  const out = transformInner(row);\n  if (row.depot_no === 41) return { ...out, ${rewrite} };\n  return out;\n}\nfunction transformInner(row: SourceRow): ProgramOutput {`,
    );
    expect(forged).not.toBe(base.program);
    const script = await generateScript({ plan, analysis, programOverride: forged });
    const dir = join(work, name);
    return { script, bundle: await bundleScript(script, dir), programPath: join(dir, 'program.ts') };
  }

  it.each([
    ['a postcode with its leading zero dropped', 'zip', 'zip: String(Number(row.zip))', '"2134"'],
    ['a phone number with its + dropped', 'phone', "phone: row.phone === null ? null : row.phone.replace('+', '')", '"4930123456"'],
  ])('%s: the batch is refused, naming the key and column; nothing of it is written', async (label, column, rewrite, shown) => {
    const { driver, pair, plan, analysis } = ft;
    const program = await wrongProgram(column, rewrite);
    const r = failed(await runOnce(pair, { plan, analysis, program }, driver));
    expect(r.errorCode, label).toBe('ROW_MISMATCH');
    expect(r.key).toBe('41');
    expect(r.error).toContain(`${column} is ${shown}`);
    // Rows of region 3 with depot_no < 41 fill whole batches before it; the failing batch left nothing.
    const before = Number((await pair.sql('legacy', 'SELECT count(*) AS n FROM depots WHERE region = 3 AND depot_no < 41')).rows[0]!.n);
    const batchStart = Math.floor(before / 20) * 20;
    expect(await outlets()).toBe(batchStart);
    expect((await pair.sql('target', 'SELECT zip FROM outlets WHERE depot_no = 41')).rows).toEqual([]);
  });

  it('a run of the honest program completes; a zip changed to its number form afterwards fails the row walk', async () => {
    const { driver, pair, work, plan, analysis } = ft;
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'honest') });
    const r = completed(await runOnce(pair, { plan, analysis, program }, driver));
    expect((await pair.sql('target', 'SELECT zip, phone FROM outlets WHERE depot_no = 41')).rows).toEqual([{ zip: '02134', phone: '+4930123456' }]);
    const walk = () =>
      withConnections(pair, (conn) =>
        validateMigration({ migrationId: r.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), method: 'row_walk' }),
      );
    expect((await walk()).status).toBe('passed');
    await pair.sql('target', `UPDATE outlets SET zip = '2134' WHERE depot_no = 41`);
    const report = await walk();
    expect(report.status).toBe('failed');
    const content = report.checks.find((c) => c.status === 'fail');
    expect(JSON.stringify(content)).toContain('2134');
    expect(JSON.stringify(content)).toContain('41');
  });
});
