import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planPaths, saveJson } from '../../src/store/file-store.js';
import { RunStore } from '../../src/store/run-store.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { SUPABASE_ROLES_SQL } from '../../src/demo/seed-case.js';
import { plannedTable, waitFor } from '../faults/fault-case.js';
import { startFerry, startWorker, stopWorkers, type WorkerProc } from './workers.js';

/**
 * Shipments of one tenant (tenant_id = 5; tenant 6's rows must stay behind), keys with gaps,
 * moved into consignments. Every statement on consignments is slowed down so a worker can be
 * killed with a range half done.
 */
const ROWS = 24_000;
const LEGACY = `
CREATE TABLE shipments (ship_ref integer PRIMARY KEY, tenant_id integer NOT NULL, consignee text NOT NULL, weight_g integer, remark text);
INSERT INTO shipments
SELECT g * 2 + 1, CASE WHEN g % 9 = 0 THEN 6 ELSE 5 END, 'Consignee ' || (g % 311) || CASE WHEN g % 4 = 0 THEN ' “quoted”' ELSE '' END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE g % 50000 END, CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\\n' || g END
  FROM generate_series(1, ${ROWS}) g;
`;
const TARGET = `
CREATE TABLE consignments (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, tenant_id integer NOT NULL, consignee text NOT NULL,
  weight_g integer CHECK (weight_g IS DISTINCT FROM 31337), remark text);
CREATE OR REPLACE FUNCTION ferry_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$;
CREATE TRIGGER ferry_test_slow AFTER INSERT ON consignments FOR EACH STATEMENT EXECUTE FUNCTION ferry_test_slow();
`;

describe('ferry workers that die, and data that cannot be written', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let planPath: string;
  let workers: WorkerProc[] = [];
  const expected = async () => Number((await db.sql('legacy', 'SELECT count(*) AS n FROM shipments WHERE tenant_id = 5')).rows[0]!.n);

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('qfail_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-queue-fail-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'queue-faults', { FERRY_QUEUE_LEASE_MS: '6000', FERRY_QUEUE_RETRY_DELAY_S: '1' });
    const { plan, analysis } = await plannedTable(db, {
      source: 'shipments',
      target: 'consignments',
      filter: { column: 'tenant_id', value: 5 },
      description: 'Migrate the shipments of tenant 5 into consignments',
      batchSize: 400,
    });
    planPath = join(home, 'plans', `${plan.id}.json`);
    await saveJson(planPaths(planPath).plan, plan);
    await saveJson(planPaths(planPath).analysis, analysis);
    const store = await RunStore.open(db.target.url);
    try {
      await store.savePlan(plan, analysis, { by: 'queue-faults' });
    } finally {
      await store.close();
    }
  });
  afterEach(async () => {
    await stopWorkers(workers);
    workers = [];
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('a worker SIGKILLed mid-range: its lease lapses, the range is retried after its committed batches — exact, no duplicates, no orphan mappings', async () => {
    for (let i = 0; i < 3; i += 1) workers.push(startWorker(env));
    const run = startFerry(env, ['run', planPath, '--queue', '--partitions', '6']);
    // A range with committed batches and more to go: its worker is the victim.
    const victim = await waitFor(
      `a range half done (ferry run so far:\n${run.output()})`,
      async () => {
        const r = await db.sql('target', `SELECT idx, worker_id, rows_done::int AS done, to_migrate::int AS total FROM ferry_queue.partitions WHERE state = 'running' AND rows_done >= 800 AND rows_done + 1200 <= to_migrate LIMIT 1`).catch(() => null);
        return r?.rows[0] as { idx: number; worker_id: string; done: number; total: number } | undefined;
      },
      240_000,
      50,
    );
    const pid = Number(victim.worker_id.split(':')[1]);
    const proc = workers.find((w) => w.child.pid === pid)!;
    proc.child.kill('SIGKILL');
    expect(await proc.exited).toEqual({ code: null, signal: 'SIGKILL' });
    console.log(`[queue] SIGKILLed worker ${victim.worker_id} in range ${victim.idx + 1} at ${victim.done}/${victim.total} rows`);

    const ended = await run.exited;
    console.log(run.output().split('\n').filter((l) => !l.startsWith('⏳')).join('\n'));
    expect(ended.code, run.output()).toBe(0);
    expect(run.output()).toContain('ALL VALIDATIONS PASSED');
    expect(run.output()).toMatch(new RegExp(`range ${victim.idx + 1}: worker ${victim.worker_id} lost \\(no heartbeat for \\d+ s\\); back to the queue`));

    const n = await expected();
    const t = await db.sql(
      'target',
      `SELECT (SELECT count(*) FROM consignments)::int AS rows,
              (SELECT count(*) FROM consignments WHERE tenant_id <> 5)::int AS other_tenant,
              (SELECT count(*) FROM ferry_control.migration_mappings)::int AS mappings,
              (SELECT count(DISTINCT legacy_id) FROM ferry_control.migration_mappings)::int AS distinct_ids,
              (SELECT count(*) FROM ferry_control.migration_mappings m WHERE NOT EXISTS (SELECT 1 FROM consignments c WHERE c.id::text = m.new_id))::int AS orphan_mappings,
              (SELECT count(*) FROM ferry_control.migration_control WHERE status = 'running')::int AS running`,
    );
    expect(t.rows[0]).toEqual({ rows: n, other_tenant: 0, mappings: n, distinct_ids: n, orphan_mappings: 0, running: 0 });
    const part = (await db.sql('target', `SELECT attempts, migration_ids::int[] AS ids, state, rows_inserted::int AS rows FROM ferry_queue.partitions WHERE idx = $1`, [victim.idx])).rows[0]!;
    expect(part.state).toBe('completed');
    expect(part.attempts).toBeGreaterThanOrEqual(2);
    // The dead attempt's control row: failed RUN_ABANDONED by the retry, its committed batches kept and counted.
    const dead = (await db.sql('target', `SELECT status, error_code, rows_inserted FROM ferry_control.migration_control WHERE id = $1`, [part.ids[0]])).rows[0]!;
    expect(dead).toMatchObject({ status: 'failed', error_code: 'RUN_ABANDONED' });
    expect(dead.rows_inserted).toBeGreaterThanOrEqual(800);
    // The report counts every range over every attempt, the killed one's committed batches too (its worker never reported them).
    const killedRows = Number((await db.sql('target', 'SELECT count(*) AS n FROM ferry_control.migration_mappings WHERE migration_id = $1', [part.ids[0]])).rows[0]!.n);
    expect(run.output()).toContain(`   ${n.toLocaleString('en-US')} inserted by this run over 6 range(s) (${killedRows.toLocaleString('en-US')} of them resumed from attempts that did not finish), 0 migrated before it`);
    expect(run.output()).toContain(`inserted by this run ${n} ·`);
    const lost = (await db.sql('target', `SELECT state FROM ferry_queue.workers WHERE id = $1`, [victim.worker_id])).rows[0]!;
    expect(lost.state).toBe('lost');

    const shown = await runFerry(env, ['runs', 'show', '1']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Partitions of public.consignments (6)');
    expect(shown.stdout).toMatch(new RegExp(`${victim.worker_id}\\s+host \\S+, pid ${pid}, lost, last heartbeat`));
    expect(shown.stdout).toMatch(/completed .* \d+ attempt\(s\)/);
  });

  it('a row the target refuses (a CHECK at one key) fails the run naming that row, once: no retries', async () => {
    await db.sql('target', 'TRUNCATE consignments');
    await db.sql('target', 'TRUNCATE ferry_control.migration_mappings');
    await db.sql('legacy', `UPDATE shipments SET weight_g = 31337 WHERE ship_ref = (SELECT ship_ref FROM shipments WHERE tenant_id = 5 ORDER BY ship_ref OFFSET 15000 LIMIT 1)`);
    const bad = Number((await db.sql('legacy', 'SELECT ship_ref FROM shipments WHERE weight_g = 31337')).rows[0]!.ship_ref);
    for (let i = 0; i < 2; i += 1) workers.push(startWorker(env));
    const run = await runFerry(env, ['run', planPath, '--queue', '--partitions', '4']);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(`legacy key ${bad}`);
    expect(run.stdout).toContain('❌ queued run failed: BATCH_WRITE_FAILED');
    const part = (await db.sql('target', `SELECT state, attempts, error_key FROM ferry_queue.partitions WHERE queue_run_id = 2 AND error_key IS NOT NULL`)).rows;
    expect(part).toEqual([{ state: 'failed', attempts: 1, error_key: String(bad) }]);
    // Nothing of the refused batch: the row is not there, and every row there has its mapping.
    const t = (await db.sql('target', `SELECT (SELECT count(*) FROM consignments WHERE legacy_id = $1)::int AS bad, (SELECT count(*) FROM consignments c WHERE NOT EXISTS (SELECT 1 FROM ferry_control.migration_mappings m WHERE m.new_id = c.id::text))::int AS unmapped`, [bad])).rows[0];
    expect(t).toEqual({ bad: 0, unmapped: 0 });
  });
  it('a worker SIGKILLed while it validates the table: the plan goes back, another worker validates it and the run completes', async () => {
    await db.sql('target', 'TRUNCATE consignments');
    await db.sql('target', 'TRUNCATE ferry_control.migration_mappings');
    await db.sql('legacy', 'UPDATE shipments SET weight_g = NULL WHERE weight_g = 31337');
    // Validation made slow where it reads as Supabase's authenticated role: its policy pauses 12 s once per count.
    await runScript(db.target.url, `${SUPABASE_ROLES_SQL}
      GRANT USAGE ON SCHEMA public TO authenticated; GRANT SELECT ON consignments TO authenticated;
      CREATE FUNCTION ferry_test_pause() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF current_setting('ferry_test.paused', true) IS DISTINCT FROM 'yes' THEN
          PERFORM pg_sleep(12);
          PERFORM set_config('ferry_test.paused', 'yes', true);
        END IF;
        RETURN true;
      END $$;
      ALTER TABLE consignments ENABLE ROW LEVEL SECURITY;
      CREATE POLICY consignments_pause ON consignments FOR SELECT TO authenticated USING (ferry_test_pause());`);
    try {
      for (let i = 0; i < 2; i += 1) workers.push(startWorker(env));
      const run = startFerry(env, ['run', planPath, '--queue', '--partitions', '2']);
      const victim = await waitFor(
        `a plan being validated (ferry run so far:\n${run.output()})`,
        async () => {
          const r = await db
            .sql('target', `SELECT queue_run_id::int AS q, worker_id FROM ferry_queue.plans WHERE state = 'validating' AND EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database())`)
            .catch(() => null);
          return r?.rows[0] as { q: number; worker_id: string } | undefined;
        },
        240_000,
        50,
      );
      const proc = workers.find((w) => w.child.pid === Number(victim.worker_id.split(':')[1]))!;
      proc.child.kill('SIGKILL');
      expect(await proc.exited).toEqual({ code: null, signal: 'SIGKILL' });

      const ended = await run.exited;
      const said = [run.output(), ...workers.map((w) => w.output())].join('\n');
      expect(ended.code, said).toBe(0);
      expect(run.output()).toContain('ALL VALIDATIONS PASSED');
      expect(said).toContain(`worker ${victim.worker_id} was lost while finishing public.consignments (queued run ${victim.q}): its validation goes to another worker`);
      const plan = (await db.sql('target', `SELECT state, report_status, worker_id FROM ferry_queue.plans WHERE queue_run_id = $1`, [victim.q])).rows[0]!;
      expect(plan).toMatchObject({ state: 'completed', report_status: 'passed' });
      expect(plan.worker_id).not.toBe(victim.worker_id);
      const n = await expected();
      const t = (await db.sql('target', `SELECT (SELECT count(*) FROM consignments)::int AS rows, (SELECT count(*) FROM ferry_control.migration_mappings)::int AS mappings`)).rows[0];
      expect(t).toEqual({ rows: n, mappings: n });
    } finally {
      await runScript(db.target.url, 'DROP POLICY consignments_pause ON consignments; ALTER TABLE consignments DISABLE ROW LEVEL SECURITY; DROP FUNCTION ferry_test_pause();');
    }
  });
});
