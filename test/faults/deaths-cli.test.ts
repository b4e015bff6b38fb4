import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv, runFerry } from '../setup/ferry-bin.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { planPaths, saveJson } from '../../src/store/file-store.js';
import { RunStore } from '../../src/store/run-store.js';
import {
  approvedPlan,
  containersOf,
  controls,
  createFaultCase,
  expectExact,
  expectSameLegacyIds,
  faultSeed,
  slowTargetSql,
  sourceCount,
  tally,
  waitFor,
  withConnections,
} from './fault-case.js';

/**
 * The orchestrator itself dies: `ferry run` as a child process, SIGKILLed once
 * migration_control says batch k has committed. Nothing in ferry can record that death, so
 * the control row stays `running`; the next `ferry run` takes the table's lock (the dead
 * process's session lock went with its connection), marks that row failed RUN_ABANDONED,
 * resumes after the last committed batch and validates.
 */
const BATCH = 100;

describe('ferry run killed with SIGKILL at a random batch', () => {
  let pair: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const t0 = Date.now();
  const ferry = async (...args: string[]) => {
    const r = await runFerry(env, args);
    console.log(`[faults] +${((Date.now() - t0) / 1000).toFixed(1)} s: ferry ${args[0]} exited ${r.code}`);
    return r;
  };

  beforeAll(async () => {
    await dockerDriverForTests();
    pair = await createFaultCase({ prefix: 'faultcli_' });
    // 0.15 s per INSERT/COPY statement: a batch lasts long enough to be caught between two.
    await pair.sql('target', slowTargetSql(0.15));
    home = await mkdtemp(join(tmpdir(), 'ferry-faults-cli-'));
    env = cliEnv({ sourceUrl: pair.legacy.url, targetUrl: pair.target.url }, home, 'faults');
  });
  afterAll(async () => {
    await pair?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('the killed run is found abandoned by the next run, which resumes after the last committed batch: exact counts, validated', async () => {
    // Planned and approved in-process (test/cli covers ferry plan / approve); written where ferry run reads it.
    const { plan, analysis } = await withConnections(pair, (conn) => approvedPlan(conn, { batchSize: BATCH }));
    const planPath = join(home, 'plans', `${plan.id}.json`);
    await saveJson(planPaths(planPath).plan, plan);
    await saveJson(planPaths(planPath).analysis, analysis);
    // The approval goes on record in the run store, as ferry approve does: ferry run runs only that.
    const store = await RunStore.open(pair.target.url);
    try {
      await store.savePlan(plan, analysis, { by: 'faults' });
    } finally {
      await store.close();
    }

    const source = await sourceCount(pair);
    const batches = Math.ceil(source / BATCH);
    const { int } = faultSeed('orchestrator killed');
    const k = int(2, Math.floor(batches / 2));
    console.log(`[faults] ferry run SIGKILLed once batch ${k} of ${batches} has committed`);

    const child = spawn(process.execPath, [BIN, 'run', planPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let killedAt: { id: number; batches: number; rows: number };
    try {
      killedAt = await waitFor(
        `batch ${k} to commit (ferry run output so far:\n${out})`,
        async () => {
          const r = await pair.sql('target', `SELECT id, batches_committed, rows_inserted FROM ferry_control.migration_control WHERE status = 'running' AND batches_committed >= $1`, [k]).catch(() => null);
          const row = r?.rows[0];
          return row ? { id: Number(row.id), batches: Number(row.batches_committed), rows: Number(row.rows_inserted) } : null;
        },
        120_000,
        10,
      );
    } finally {
      child.kill('SIGKILL');
    }
    expect(await exited).toEqual({ code: null, signal: 'SIGKILL' });
    console.log(`[faults] +${((Date.now() - t0) / 1000).toFixed(1)} s: killed run ${killedAt.id} at ${killedAt.batches} committed batch(es)`);

    // What the dead run left: committed batches whole, no orphans, its control row still running.
    const left = await tally(pair);
    expect(left.target).toBeGreaterThanOrEqual(k * 1);
    expect(left.target).toBeLessThan(source);
    expect(left).toMatchObject({ mappings: left.target, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: left.target, runningRuns: 1 });
    const [dead] = await controls(pair);
    expect(dead).toMatchObject({ id: killedAt.id, status: 'running', rows_inserted: left.target });
    // The dead process's connections (and with them the table's advisory lock) go away.
    await waitFor('the killed run’s target backends to end', async () => {
      const r = await pair.sql('target', `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ferry-target'`, [pair.target.name]);
      return Number(r.rows[0]!.n) === 0;
    });

    const again = await ferry('run', planPath);
    expect(again.stderr, again.stdout).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${left.target} already migrated`);
    expect(again.stdout).toContain('ALL VALIDATIONS PASSED');

    const after = await controls(pair);
    expect(after).toHaveLength(2);
    expect(after[0]).toMatchObject({ id: killedAt.id, status: 'failed', error_code: 'RUN_ABANDONED', rows_inserted: left.target });
    expect(after[1]).toMatchObject({ status: 'completed', rows_inserted: source - left.target, error_code: null });
    await expectExact(pair);
    await expectSameLegacyIds(pair);
    // The dead run's sandbox container does not outlive the next run (reaped as an orphan).
    expect(await containersOf(killedAt.id, child.pid)).toEqual([]);
  });
});
