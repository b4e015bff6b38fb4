import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import type { PreparedProgram } from '../../src/chain.js';
import type { RunEvent, RunResult } from '../../src/orchestrator/run-migration.js';
import type { SandboxDriver, SandboxStartOptions } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import {
  completed,
  containersOf,
  controls,
  createFaultCase,
  describeAttempt,
  expectExact,
  expectSameLegacyIds,
  expectValidates,
  faultSeed,
  killRunContainers,
  loose,
  prepareCase,
  runOnce,
  sourceCount,
  tally,
  terminateBackends,
  withConnections,
  withHook,
} from './fault-case.js';

/**
 * Deaths in the middle of a run, each after a random batch k (seeded; the seed is printed):
 * the sandbox container killed, the target connection dropped, the source connection
 * dropped. Each death is injected by a hook on the real Docker driver that runs before
 * batch k+1 is sent, so batch k has committed and the death is reproducible. After each:
 * the run is failed (or left running and found abandoned by the next run), a second run
 * completes, and the counts are exact: nothing lost, nothing doubled, no orphan mappings.
 */
const BATCH = 100;

describe('a run that dies at a random batch resumes exactly', () => {
  let driver: SandboxDriver;
  let work: string;
  let step = 0;

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    work = await mkdtemp(join(tmpdir(), 'ferry-faults-deaths-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A fresh case, its approved plan and program. */
  async function setUp(): Promise<{ pair: DatabasePair; plan: MigrationPlan; analysis: SchemaAnalysis; program: PreparedProgram; batches: number }> {
    const pair = await createFaultCase();
    step += 1;
    const { plan, analysis, program } = await prepareCase(pair, BATCH, join(work, `p${step}`));
    const source = await sourceCount(pair);
    return { pair, plan, analysis, program, batches: Math.ceil(source / BATCH) };
  }

  /** The second run: completes, inserts exactly what the first left, and the whole is exact and validates. */
  async function resumeAndCheck(
    pair: DatabasePair,
    s: { plan: MigrationPlan; analysis: SchemaAnalysis; program: PreparedProgram },
    insertedBefore: number,
    parallel = 1,
  ): Promise<{ second: RunResult; events: RunEvent[] }> {
    const events: RunEvent[] = [];
    const second = completed(await runOnce(pair, s, driver, events, parallel));
    const source = (await tally(pair)).source;
    expect(second).toMatchObject({ status: 'completed', inserted: source - insertedBefore, skipped: insertedBefore });
    await expectExact(pair);
    await expectSameLegacyIds(pair);
    await withConnections(pair, (conn) => expectValidates(conn, s.plan, s.analysis, second.migrationId));
    expect(await containersOf(second.migrationId)).toEqual([]);
    return { second, events };
  }

  it('container killed after batch k: the run is failed with a SANDBOX_* code, batches up to k stay, a second run finishes the rest', async () => {
    const s = await setUp();
    try {
      const { int } = faultSeed('container killed');
      const k = int(1, s.batches - 2);
      console.log(`[faults] container killed after batch ${k} of ${s.batches}`);
      let killed = -1;
      const hooked = withHook(driver, async (batch: number, o: SandboxStartOptions) => {
        if (batch === k + 1) killed = await killRunContainers(o.runId);
      });
      const events: RunEvent[] = [];
      const first = await runOnce(s.pair, s, hooked, events);
      expect(killed, 'containers killed').toBe(1);
      expect(describeAttempt(first)).toMatch(/^failed SANDBOX_/);
      if ('thrown' in first || first.status !== 'failed') return;
      const committed = events.filter((e) => e.type === 'batch_committed');
      expect(committed.length).toBeGreaterThanOrEqual(k);
      const t = await tally(s.pair);
      expect(first.inserted).toBe(t.target);
      expect(t.target).toBeGreaterThanOrEqual(k * 1);
      expect(t).toMatchObject({ mappings: first.inserted, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: first.inserted, runningRuns: 0 });
      const [control] = await controls(s.pair);
      expect(control).toMatchObject({ id: first.migrationId, status: 'failed', error_code: first.errorCode, rows_inserted: first.inserted, batches_committed: committed.length });
      // The killed container is gone, not left for gc.
      expect(await containersOf(first.migrationId)).toEqual([]);

      await resumeAndCheck(s.pair, s, first.inserted);
    } finally {
      await s.pair.drop();
    }
  });

  it('target connection dropped after batch k: the run returns DB_CONNECTION_LOST (it cannot record it), the next run marks it RUN_ABANDONED and resumes', async () => {
    const s = await setUp();
    try {
      const { int } = faultSeed('target connection dropped');
      const k = int(1, s.batches - 2);
      console.log(`[faults] target connection dropped after batch ${k} of ${s.batches}`);
      let terminated = -1;
      const hooked = withHook(driver, async (batch: number) => {
        if (batch === k + 1) terminated = await terminateBackends(s.pair, 'target', 'ferry-target');
      });
      const first = await runOnce(s.pair, s, hooked);
      expect(terminated, 'target backends terminated').toBeGreaterThanOrEqual(1);
      expect(describeAttempt(first)).toMatch(/^failed DB_CONNECTION_LOST/);
      if ('thrown' in first || first.status !== 'failed') return;
      const t = await tally(s.pair);
      expect(t.target).toBeGreaterThanOrEqual(k);
      expect(first.inserted).toBe(t.target);
      expect(t).toMatchObject({ mappings: t.target, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: t.target });
      // Nothing could record the failure: the control row still says running.
      expect((await controls(s.pair))[0]).toMatchObject({ id: first.migrationId, status: 'running', rows_inserted: t.target });
      expect(await containersOf(first.migrationId)).toEqual([]);

      const { second, events } = await resumeAndCheck(s.pair, s, t.target);
      const resumed = events.map(loose).filter((e) => e.type === 'resumed');
      expect(resumed).toEqual([{ type: 'resumed', abandoned: [first.migrationId], alreadyMapped: t.target }]);
      expect((second as RunResult & { resumedFrom?: number[] }).resumedFrom).toEqual([first.migrationId]);
      const [abandoned] = await controls(s.pair);
      expect(abandoned).toMatchObject({ id: first.migrationId, status: 'failed', error_code: 'RUN_ABANDONED', rows_inserted: t.target });
    } finally {
      await s.pair.drop();
    }
  });

  it('source connection dropped after batch k: the run is failed and says the connection was lost; a second run finishes the rest', async () => {
    const s = await setUp();
    try {
      const { int } = faultSeed('source connection dropped');
      const k = int(1, s.batches - 3);
      console.log(`[faults] source connection dropped after batch ${k} of ${s.batches}`);
      let terminated = -1;
      const hooked = withHook(driver, async (batch: number) => {
        if (batch === k + 1) terminated = await terminateBackends(s.pair, 'legacy', 'ferry-source');
      });
      const first = await runOnce(s.pair, s, hooked);
      expect(terminated, 'source backends terminated').toBeGreaterThanOrEqual(1);
      expect(describeAttempt(first)).toMatch(/^failed /);
      if ('thrown' in first || first.status !== 'failed') return;
      expect(first.error).toMatch(/connection|terminat/i);
      const t = await tally(s.pair);
      expect(t.target).toBeGreaterThanOrEqual(k);
      expect(first.inserted).toBe(t.target);
      expect(t).toMatchObject({ mappings: t.target, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: t.target, runningRuns: 0 });
      expect((await controls(s.pair))[0]).toMatchObject({ id: first.migrationId, status: 'failed', error_code: first.errorCode });
      expect(await containersOf(first.migrationId)).toEqual([]);

      await resumeAndCheck(s.pair, s, t.target);
    } finally {
      await s.pair.drop();
    }
  });

  it('--parallel 3, one worker’s container killed at its batch k: the run fails, the other ranges stop whole, a parallel re-run fills every gap exactly', async () => {
    const s = await setUp();
    try {
      const { int } = faultSeed('parallel worker killed');
      const k = int(1, 5);
      console.log(`[faults] parallel 3: worker 1's container killed after its batch ${k}`);
      const seen = new Map<string, number>();
      let killed = -1;
      const hooked = withHook(driver, async (_batch: number, o: SandboxStartOptions) => {
        const n = (seen.get(o.runId) ?? 0) + 1;
        seen.set(o.runId, n);
        if (o.labels?.['ferry.worker'] === '1' && n === k + 1) killed = await killRunContainers(o.runId);
      });
      const first = await runOnce(s.pair, s, hooked, [], 3);
      expect(killed, 'containers killed').toBe(1);
      expect(describeAttempt(first)).toMatch(/^failed SANDBOX_/);
      if ('thrown' in first || first.status !== 'failed') return;
      const t = await tally(s.pair);
      expect(first.inserted).toBe(t.target);
      expect(t.target).toBeGreaterThanOrEqual(k * BATCH);
      expect(t).toMatchObject({ mappings: t.target, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: t.target, runningRuns: 0 });
      expect((await controls(s.pair))[0]).toMatchObject({ id: first.migrationId, status: 'failed', error_code: first.errorCode });
      expect(await containersOf(first.migrationId)).toEqual([]);

      await resumeAndCheck(s.pair, s, t.target, 3);
    } finally {
      await s.pair.drop();
    }
  });
});
