import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/orchestrator/run-migration.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { completed, createFaultCase, digests, expectExact, expectValidates, faultSeed, keysInOrder, prepareCase, runOnce, withConnections } from './fault-case.js';

/** Wide values: one 1 MiB text, then more 1 MiB rows than one plan batch can carry in a frame. */
const BATCH = 50;
const ROWS = 700; // 600 under the filter

describe('wide values come through whole', () => {
  let driver: SandboxDriver;
  let work: string;
  let step = 0;
  const prepare = (pair: DatabasePair, batchSize = BATCH) => {
    step += 1;
    return prepareCase(pair, batchSize, join(work, `p${step}`));
  };

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    work = await mkdtemp(join(tmpdir(), 'ferry-faults-wide-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('a 1 MiB text value comes through whole', async () => {
    const pair = await createFaultCase({ rows: ROWS });
    try {
      const keys = await keysInOrder(pair);
      const { int } = faultSeed('1 MiB value');
      const big = keys[int(0, keys.length - 1)]!;
      // 'Ω😀ab' is 8 UTF-8 bytes: exactly 1 MiB, multi-byte characters and a surrogate pair on every repeat.
      await pair.sql('legacy', `UPDATE parts SET note = repeat('Ω😀ab', 131072) WHERE id = ${big}`);
      expect(Number((await pair.sql('legacy', `SELECT octet_length(note) AS n FROM parts WHERE id = ${big}`)).rows[0]!.n)).toBe(2 ** 20);
      const s = await prepare(pair);
      const r = completed(await runOnce(pair, s, driver));
      expect(r).toMatchObject({ inserted: keys.length });
      const d = await digests(pair);
      expect(d.target).toEqual(d.source);
      expect(Number((await pair.sql('target', `SELECT octet_length(note) AS n FROM items WHERE legacy_id = ${big}`)).rows[0]!.n)).toBe(2 ** 20);
      await expectExact(pair);
      await withConnections(pair, (conn) => expectValidates(conn, s.plan, s.analysis, r.migrationId));
    } finally {
      await pair.drop();
    }
  });

  it('seventy 1 MiB rows under a plan batch of 200 (wider than one 64 MiB frame): batches shrink to fit and the result is exact', async () => {
    const pair = await createFaultCase({ rows: 350 }); // 300 under the filter
    try {
      await pair.sql('legacy', `UPDATE parts SET note = repeat('wide row', 131072) WHERE group_id = 1 AND id IN (SELECT id FROM parts WHERE group_id = 1 ORDER BY id LIMIT 70)`);
      const s = await prepare(pair, 200);
      const events: RunEvent[] = [];
      const r = completed(await runOnce(pair, s, driver, events));
      expect(r).toMatchObject({ inserted: 300 });
      const sizes = events.flatMap((e) => (e.type === 'batch_committed' ? [e.rows] : []));
      console.log(`[faults] batch sizes with 70 wide rows: ${sizes.join(', ')}`);
      expect(sizes.every((n) => n <= 200)).toBe(true);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);
      const d = await digests(pair);
      expect(d.target).toEqual(d.source);
      await expectExact(pair);
    } finally {
      await pair.drop();
    }
  });
});
