import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareProgram } from '../../src/chain.js';
import { ensureControlTables, insertControl } from '../../src/control/control-tables.js';
import { rollbackMigration } from '../../src/orchestrator/rollback.js';
import { BatchFailure, makeBatchWriter } from '../../src/orchestrator/write-batch.js';
import { completed, expectValidates, runOnce, useFaultTable, withConnections } from './fault-case.js';

/**
 * The target's key is the legacy text key, copied. A key with a backslash (`adm\in`) must be
 * recorded in migration_mappings as itself: recorded as `admin`, rollback deleted an
 * unrelated row `admin` that was in the target before ferry came, and left the migrated one.
 */
const LEGACY = `
CREATE TABLE logins (handle text PRIMARY KEY, realm integer NOT NULL, shown_as text NOT NULL);
INSERT INTO logins VALUES
  (E'adm\\\\in', 1, 'backslash in the middle'),
  (E'\\\\.', 1, 'end-of-data marker'),
  (E'\\\\N', 1, 'looks like NULL'),
  (E'tab\\there', 1, E'line\\nbreak'),
  (E'c:\\\\temp\\\\', 1, 'trailing backslash'),
  ('😀\\x', 1, 'non-BMP'),
  ('admin2', 2, 'other realm');
`;

const TARGET = `
CREATE TABLE members (handle text PRIMARY KEY, shown_as text NOT NULL);
INSERT INTO members VALUES ('admin', 'was here before ferry'), ('N', 'also here before'), ('.', 'and this');
`;

describe('a backslash in a copied text key is recorded as itself, and rollback removes exactly that row', () => {
  const ft = useFaultTable({ prefix: 'faultbs_', legacy: LEGACY, target: TARGET, table: { source: 'logins', target: 'members', filter: { column: 'realm', value: 1 }, description: 'move the logins of realm 1 into members', batchSize: 4 } });

  const members = async () => (await ft.pair.sql('target', 'SELECT handle, shown_as FROM members ORDER BY handle')).rows;

  it('run: mappings hold the real keys; validate; rollback deletes the migrated rows and keeps the unrelated ones', async () => {
    const { driver, pair, work, plan, analysis } = ft;
    expect(plan.columns.find((c) => c.target === 'handle')?.origin).toEqual({ kind: 'copy', source: 'handle' });
    const before = await members();
    const program = await prepareProgram({ plan, analysis, dir: join(work, 'p1') });
    const r = completed(await runOnce(pair, { plan, analysis, program }, driver));
    expect(r).toMatchObject({ inserted: 6 });

    const legacyKeys = (await pair.sql('legacy', 'SELECT handle FROM logins WHERE realm = 1 ORDER BY handle')).rows.map((x) => x.handle as string);
    const mappings = (await pair.sql('target', 'SELECT legacy_id, new_id FROM ferry_control.migration_mappings ORDER BY legacy_id')).rows;
    expect(mappings).toEqual(legacyKeys.map((k) => ({ legacy_id: k, new_id: k })));
    expect(mappings.map((m) => m.new_id)).toContain('adm\\in');
    await withConnections(pair, (conn) => expectValidates(conn, plan, analysis, r.migrationId));

    const back = await withConnections(pair, (conn) => rollbackMigration({ migrationId: r.migrationId, target: conn.target }));
    expect(back).toMatchObject({ status: 'rolled_back', rowsDeleted: 6, mappingsDeleted: 6 });
    expect(await members(), 'the rows that were there before ferry survive; the migrated ones are gone').toEqual(before);
  });

  it('a NUL in a value fails its batch with a typed error naming the legacy key and the column; nothing is written', async () => {
    const { pair, plan } = ft;
    await withConnections(pair, async (conn) => {
      await ensureControlTables(conn.target);
      const id = await insertControl(conn.target, plan, 'test');
      const writer = makeBatchWriter(plan, id, false);
      const rows = [
        { k: 'clean', r: { handle: 'clean', shown_as: 'fine' } },
        { k: 'adm\\in', r: { handle: 'adm\\in', shown_as: 'broken\u0000here' } },
      ];
      const sent = new Map(rows.map((x) => [x.k, { handle: x.k, realm: 1, shown_as: 'from legacy' }]));
      const before = await members();
      const err = await writer.write(conn.target, 1, rows, sent).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BatchFailure);
      expect(err).toMatchObject({ code: 'COPY_VALUE_HAS_NUL', key: 'adm\\in' });
      expect((err as Error).message).toContain('adm\\in');
      expect((err as Error).message).toContain('column shown_as');
      expect(await members()).toEqual(before);
      expect(Number((await pair.sql('target', 'SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = $1', [id])).rows[0]!.n)).toBe(0);
    });
  });
});
