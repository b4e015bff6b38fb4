import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPaths, saveJson } from '../../src/store/file-store.js';
import { RunStore } from '../../src/store/run-store.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { plannedTable } from '../faults/fault-case.js';

const LEGACY = `
CREATE TABLE meter_reads (read_id bigint PRIMARY KEY, site_no integer NOT NULL, kwh numeric(10,2), taken_at timestamptz);
INSERT INTO meter_reads SELECT g * 10, 3, (g * 0.37)::numeric(10,2), timestamptz '2024-01-01 00:00+00' + g * interval '15 min' FROM generate_series(1, 500) g;
`;
const TARGET = `CREATE TABLE readings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id bigint UNIQUE, site_no integer NOT NULL, kwh numeric(10,2), taken_at timestamptz);`;

describe('ferry worker with no Docker answering', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createDatabasePair('qnodock_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-queue-nodocker-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'queue-nodocker');
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('refuses to claim jobs, says why, and leaves the queued ranges for workers that can run them', async () => {
    const { plan, analysis } = await plannedTable(db, { source: 'meter_reads', target: 'readings', filter: { column: 'site_no', value: 3 }, description: 'Move the meter reads of site 3 into readings', batchSize: 100 });
    const planPath = join(home, 'plans', `${plan.id}.json`);
    await saveJson(planPaths(planPath).plan, plan);
    await saveJson(planPaths(planPath).analysis, analysis);
    const store = await RunStore.open(db.target.url);
    try {
      await store.savePlan(plan, analysis, { by: 'queue-nodocker' });
    } finally {
      await store.close();
    }
    const queued = await runFerry(env, ['run', planPath, '--queue', '--partitions', '3', '--detach']);
    expect(queued.stderr).toBe('');
    expect(queued.code).toBe(0);
    expect(queued.stdout).toMatch(/queued run 1: readings in 3 range\(s\) \(run 1\)/);

    const worker = await runFerry({ ...env, DOCKER_HOST: `unix://${join(home, 'no-docker-here.sock')}` }, ['worker']);
    expect(worker.code, worker.stdout + worker.stderr).toBe(3);
    expect(worker.stdout).toMatch(/refuses to claim jobs: cannot run the program in Docker: the Docker daemon does not answer: .*no-docker-here\.sock/);
    const w = (await db.sql('target', `SELECT state, detail FROM ferry_queue.workers`)).rows;
    expect(w).toHaveLength(1);
    expect(w[0]!.state).toBe('refused');
    expect(w[0]!.detail).toContain('Docker daemon does not answer');
    const parts = (await db.sql('target', `SELECT state, attempts FROM ferry_queue.partitions ORDER BY idx`)).rows;
    expect(parts).toEqual([0, 1, 2].map(() => ({ state: 'queued', attempts: 0 })));
    const jobs = (await db.sql('target', `SELECT state FROM ferry_jobs.job WHERE name = 'ferry-partition'`)).rows;
    expect(jobs.map((j) => j.state)).toEqual(['created', 'created', 'created']);
    expect((await db.sql('target', 'SELECT count(*)::int AS n FROM readings')).rows[0]!.n).toBe(0);
  });
});
