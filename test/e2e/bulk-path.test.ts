import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConnections, prepareProgram, targetTableOf, type Connections } from '../../src/chain.js';
import { runMigration, type RunEvent } from '../../src/orchestrator/run-migration.js';
import { validateMigration } from '../../src/validation/validate.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { approvedPlan, createFaultCase, expectExact, expectSameLegacyIds, sourceCount } from '../faults/fault-case.js';

/**
 * The bulk path on real PostgreSQL and Docker: key ranges side by side (--parallel), batches
 * sized by row width, and COPY's text format holding every awkward character.
 */
describe('the bulk path: parallel key ranges, batches by width, COPY encoding', () => {
  let driver: SandboxDriver;
  let work: string;
  beforeAll(async () => {
    driver = await dockerDriverForTests();
    work = await mkdtemp(join(tmpdir(), 'ferry-bulk-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('--parallel 3 over 6,000 rows', () => {
    let pair: DatabasePair;
    let conn: Connections;
    beforeAll(async () => {
      pair = await createFaultCase({ rows: 7000, prefix: 'bulkpar_' });
      conn = await openConnections(pair.legacy.url, pair.target.url);
    });
    afterAll(async () => {
      await conn?.close();
      await pair?.drop();
    });

    it('a dry run in three ranges writes nothing; the real run writes every row once, in three sandboxes, and validates', async () => {
      const { plan, analysis } = await approvedPlan(conn, { batchSize: 400 });
      const program = await prepareProgram({ plan, analysis, dir: join(work, 'par') });
      const base = { plan, analysis, bundle: program.bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy, parallel: 3, connect: conn.reopen };

      const dry = await runMigration({ ...base, dryRun: true });
      expect(dry.status, dry.status === 'failed' ? dry.error : '').toBe('completed');
      expect(dry.sandboxes).toHaveLength(3);
      expect(Number((await pair.sql('target', 'SELECT count(*) AS n FROM items')).rows[0]!.n)).toBe(0);

      const events: RunEvent[] = [];
      const run = await runMigration({ ...base, onEvent: (e) => events.push(e) });
      expect(run.status, run.status === 'failed' ? run.error : '').toBe('completed');
      const source = await sourceCount(pair);
      expect(run).toMatchObject({ inserted: source, skipped: 0, parallel: 3 });
      expect(run.sandboxes.map((s) => s.exitReason)).toEqual(['ok', 'ok', 'ok']);
      // Same rows, same program: the dry run's checksum is the real run's, whatever the interleaving.
      expect(run.rowsChecksum).toBe(dry.rowsChecksum);
      expect(run.keys).toEqual([...run.keys].sort((a, b) => Number(a) - Number(b)));

      const batches = events.filter((e): e is Extract<RunEvent, { type: 'batch_committed' }> => e.type === 'batch_committed');
      expect(new Set(batches.map((b) => b.worker))).toEqual(new Set([0, 1, 2]));
      expect(batches.every((b) => b.rows <= 400)).toBe(true);
      expect(new Set(batches.map((b) => b.batch)).size).toBe(batches.length);
      const last = batches[batches.length - 1]!;
      expect(last.done).toBe(source);
      expect(batches.every((b) => b.rowsPerSec >= 0)).toBe(true);

      await expectExact(pair);
      await expectSameLegacyIds(pair);
      // The ranges share a batch numbering and the run's mappings, so batch rollback still works per batch.
      const perBatch = await pair.sql('target', 'SELECT batch_id, count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = $1 GROUP BY batch_id', [run.migrationId]);
      expect(perBatch.rows.length).toBe(batches.length);
      const report = await validateMigration({ migrationId: run.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis) });
      expect(report.status, JSON.stringify(report.checks.filter((c) => c.status === 'fail'))).toBe('passed');
    });
  });

  describe('wide rows and awkward text', () => {
    let pair: DatabasePair;
    let conn: Connections;
    const awkward = ['tab\there', 'line\nbreak', 'back\\slash', '\\N', 'carriage\rreturn', 'quote " and \' and ,', 'naïve — 東京 — 🚢⚓', '\\.', ''];
    beforeAll(async () => {
      pair = await createFaultCase({
        prefix: 'bulkwide_',
        legacy: `
CREATE TABLE parts (id serial PRIMARY KEY, group_id integer NOT NULL, name text NOT NULL, note text, qty integer);
INSERT INTO parts (group_id, name, note, qty) SELECT 1, 'wide ' || g, repeat(md5(g::text), 3200), g FROM generate_series(1, 120) g;
`,
      });
      await pair.sql('legacy', 'INSERT INTO parts (group_id, name, note, qty) SELECT 1, v, v, -1 FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i', [awkward]);
      conn = await openConnections(pair.legacy.url, pair.target.url);
    });
    afterAll(async () => {
      await conn?.close();
      await pair?.drop();
    });

    it('sizes batches by bytes (100 KB rows go a few dozen at a time) and writes every character back exactly', async () => {
      const { plan, analysis } = await approvedPlan(conn, { batchSize: 5000 });
      const program = await prepareProgram({ plan, analysis, dir: join(work, 'wide') });
      const events: RunEvent[] = [];
      const run = await runMigration({ plan, analysis, bundle: program.bundle, source: conn.source, target: conn.target, driver, policy: defaultPolicy, onEvent: (e) => events.push(e) });
      expect(run.status, run.status === 'failed' ? run.error : '').toBe('completed');
      expect(run.inserted).toBe(120 + awkward.length);
      const sizes = events.flatMap((e) => (e.type === 'batch_committed' ? [e.rows] : []));
      // 102,400-character notes: a 4 MiB batch (input and reply) holds about 20 of them, not 5,000.
      expect(Math.max(...sizes)).toBeLessThanOrEqual(40);
      expect(sizes.length).toBeGreaterThanOrEqual(4);

      const back = await pair.sql('target', `SELECT name, note FROM items WHERE qty = -1 ORDER BY legacy_id`);
      expect(back.rows.map((r) => r.name)).toEqual(awkward);
      expect(back.rows.map((r) => r.note)).toEqual(awkward);
      const wide = await pair.sql('target', `SELECT count(*) AS n FROM items WHERE length(note) = 102400`);
      expect(Number(wide.rows[0]!.n)).toBe(120);
      await expectExact(pair);
    });
  });
});
