import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { PlanSet } from '../../src/core/artifacts/migration-plan.js';
import { silentLogger } from '../../src/logger.js';
import { sha256Hex, startService, type RunningService } from '../../src/service/server.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { chromiumForTests } from '../setup/chromium.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { startFerry, startWorker, stopWorkers, type WorkerProc } from './workers.js';

/**
 * Warehouses became depots and pickers became staff; each picker has a mentor, another picker
 * (a self-reference, most often to a key in another range, NULL for every fifth). Renamed
 * tables, sparse keys, untidy names. The target already holds a depot and a staff member ferry
 * never wrote: a rollback must leave them.
 */
const PICKERS = 3000;
const DEPOTS = 30;
const LEGACY = `
CREATE TABLE warehouse (wh_code integer PRIMARY KEY, wh_name text NOT NULL, region text);
INSERT INTO warehouse SELECT g * 7, CASE g % 3 WHEN 0 THEN 'Lager "Nord" ' || g WHEN 1 THEN 'O''Neill yard ' || g ELSE '📦 ' || g || '  ' END, CASE WHEN g % 4 = 0 THEN NULL ELSE 'R' || (g % 5) END
  FROM generate_series(1, ${DEPOTS}) g;
CREATE TABLE picker (picker_no integer PRIMARY KEY, wh_code integer NOT NULL REFERENCES warehouse(wh_code), picker_name text NOT NULL, mentor_no integer REFERENCES picker(picker_no), shift text);
INSERT INTO picker SELECT 500 + g * 3, ((g % ${DEPOTS}) + 1) * 7, 'Picker ' || g || CASE WHEN g % 11 = 0 THEN E'\\t(night)' ELSE '' END, NULL, CASE WHEN g % 6 = 0 THEN NULL ELSE 'S' || (g % 3) END
  FROM generate_series(1, ${PICKERS}) g;
UPDATE picker SET mentor_no = 500 + ((((picker_no - 500) / 3) * 37 % ${PICKERS}) + 1) * 3 WHERE ((picker_no - 500) / 3) % 5 <> 0;
`;
const TARGET = `
CREATE TABLE depots (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, wh_name text NOT NULL, region text);
CREATE TABLE staff (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, wh_code uuid NOT NULL REFERENCES depots(id), picker_name text NOT NULL,
  mentor_no uuid REFERENCES staff(id), shift text);
INSERT INTO depots (wh_name, region) VALUES ('Hand-built depot, not ferry''s', 'X');
INSERT INTO staff (wh_code, picker_name) SELECT id, 'Temp worker, not ferry''s' FROM depots;
`;

interface SseMessage {
  event: string;
  data: unknown;
}

/** The run's server-sent events until `end`. */
async function readStream(url: string, token: string): Promise<SseMessage[]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event, data: data ? JSON.parse(data) : null };
    });
}

describe('a queued plan set with a self-referencing table: every range reported, shown, and rolled back at once', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let setPath: string;
  let store: RunStore;
  let service: RunningService;
  const token = 'queue-view-token-0123456789';
  const workers: WorkerProc[] = [];
  const counts = async () => {
    const control = (await db.sql('target', `SELECT to_regclass('ferry_control.migration_mappings') IS NOT NULL AS ok`)).rows[0]!.ok as boolean;
    return (
      await db.sql(
        'target',
        `SELECT (SELECT count(*) FROM depots)::int AS depots, (SELECT count(*) FROM staff)::int AS staff,
                ${control ? '(SELECT count(*) FROM ferry_control.migration_mappings)::int' : '0'} AS mappings,
                (SELECT count(*) FROM depots WHERE legacy_id IS NULL AND wh_name = 'Hand-built depot, not ferry''s')::int AS own_depot,
                (SELECT count(*) FROM staff s JOIN depots d ON d.id = s.wh_code WHERE s.legacy_id IS NULL AND d.legacy_id IS NULL)::int AS own_staff`,
      )
    ).rows[0];
  };

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('qroll_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-queue-roll-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'queue-roller', { FERRY_QUEUE_LEASE_MS: '20000', FERRY_QUEUE_RETRY_DELAY_S: '1' });
    const planned = await runFerry(env, ['plan', 'migrate warehouse to depots, then picker to staff']);
    expect(planned.stderr, planned.stdout).toBe('');
    setPath = /Plan set written to (\S+):/.exec(planned.stdout)![1]!;
    const set = PlanSet.parse(JSON.parse(await readFile(setPath, 'utf8')));
    expect(set.plans.map((p) => p.targetTable)).toEqual(['public.depots', 'public.staff']);
    const approved = await runFerry(env, ['approve', setPath]);
    expect(approved.code, approved.stdout + approved.stderr).toBe(0);
    store = await RunStore.open(db.target.url);
    service = await startService({
      store,
      sourceUrl: db.legacy.url,
      targetUrl: db.target.url,
      tokenSha256: sha256Hex(token),
      logger: silentLogger,
      home,
      driver: await dockerDriverForTests(),
      policy: defaultPolicy,
      queueLeaseMs: 20_000,
    });
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await service?.close();
    await store?.close();
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('runs on three workers: self-references set after every range, the exact totals in ferry run, runs show and the service (followed live)', async () => {
    expect(await counts()).toEqual({ depots: 1, staff: 1, mappings: 0, own_depot: 1, own_staff: 1 });
    for (let i = 0; i < 3; i += 1) workers.push(startWorker(env));
    const run = startFerry(env, ['run', setPath, '--queue', '--partitions', '3']);
    // The staff plan's run in the store, once queued: the service follows it while the workers run it.
    let staffRun = 0;
    for (let i = 0; i < 600 && !staffRun; i += 1) {
      const r = await db.sql('target', `SELECT store_run_id FROM ferry_queue.plans WHERE idx = 1`).catch(() => null);
      staffRun = Number(r?.rows[0]?.store_run_id ?? 0);
      if (!staffRun) await new Promise((res) => setTimeout(res, 200));
    }
    expect(staffRun).toBeGreaterThan(0);
    const stream = readStream(`${service.url}/api/runs/${staffRun}/events`, token);
    const ended = await run.exited;
    const out = run.output();
    console.log(out.split('\n').filter((l) => !l.startsWith('⏳')).join('\n'));
    expect(ended.code, out).toBe(0);
    expect(out.match(/ALL VALIDATIONS PASSED/g)).toHaveLength(2);

    // Self-references: one second pass after every range, each mentor the right row.
    const withMentor = Number((await db.sql('legacy', 'SELECT count(*) AS n FROM picker WHERE mentor_no IS NOT NULL')).rows[0]!.n);
    expect(out).toContain(`🔗 mentor_no: second pass over every range set ${withMentor} reference(s)`);
    const mentors = (
      await db.sql(
        'target',
        `SELECT count(*)::int AS n FROM staff s JOIN staff m ON m.id = s.mentor_no
          WHERE m.legacy_id = 500 + ((((s.legacy_id - 500) / 3) * 37 % ${PICKERS}) + 1) * 3`,
      )
    ).rows[0]!.n;
    expect(mentors).toBe(withMentor);

    // The report covers every range, not the last one.
    expect(out).toContain(`   ${PICKERS.toLocaleString('en-US')} inserted by this run over 3 range(s) (0 of them resumed from attempts that did not finish), 0 migrated before it`);
    expect(out).toContain(`   ${DEPOTS} inserted by this run over 3 range(s)`);
    expect(out).toContain(`inserted by this run ${PICKERS} ·`);
    expect(out).toContain(`📦 queued run 1: ${(PICKERS + DEPOTS).toLocaleString('en-US')} row(s) inserted over 2 plan(s)`);
    const perRange = [...out.matchAll(/range (\d)\/3 \([^)]*\): ([\d,]+) inserted/g)].map((m) => Number(m[2]!.replace(/,/g, '')));
    expect(perRange).toHaveLength(6);
    expect(perRange.slice(3).reduce((a, b) => a + b, 0)).toBe(PICKERS);

    // ferry runs show: the same totals, the ranges, the workers.
    const shown = await runFerry(env, ['runs', 'show', String(staffRun)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Partitions of public.staff (3)');
    expect(shown.stdout).toContain(`${PICKERS.toLocaleString('en-US')} inserted by this run over 3 range(s)`);
    // Alive while they heartbeat within the lease (stale if this loaded machine starved one past it).
    const workerLines = shown.stdout.match(/host \S+, pid \d+, running \((alive|stale)\), last heartbeat \S+ \S+ \(\d+ s ago\)/g) ?? [];
    expect(workerLines.length).toBeGreaterThanOrEqual(1);

    // The service: the JSON API, and the stream that followed the run while it ran.
    const detail = (await (await fetch(`${service.url}/api/runs/${staffRun}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      queue: { queueRunId: number; status: string; partitions: Array<{ state: string; rowsDone: number; attempts: number; range: { lo: string | null; hi: string | null } }>; workers: Array<{ host: string; pid: number; heartbeatAt: string; liveness: string }>; tally: { inserted: number; ranges: unknown[] } };
    };
    expect(detail.queue).toMatchObject({ queueRunId: 1, status: 'completed', tally: { inserted: PICKERS } });
    expect(detail.queue.partitions.map((p) => p.state)).toEqual(['completed', 'completed', 'completed']);
    expect(detail.queue.partitions.reduce((n, p) => n + p.rowsDone, 0)).toBe(PICKERS);
    expect(detail.queue.partitions[0]!.range.lo).toBeNull();
    expect(detail.queue.partitions[2]!.range.hi).toBeNull();
    // The workers that claimed its ranges: ours, each with its host, pid and heartbeat.
    expect(detail.queue.workers).toHaveLength(workerLines.length);
    for (const w of detail.queue.workers) {
      expect(workers.map((x) => x.child.pid)).toContain(w.pid);
      expect(w.host).not.toBe('');
      expect(Number.isNaN(Date.parse(w.heartbeatAt))).toBe(false);
      expect(['alive', 'stale']).toContain(w.liveness);
    }
    // The review page: the run's ranges, what they inserted, the workers.
    const choice = chromiumForTests();
    if (choice.skip === null) {
      const browser = await chromium.launch({ executablePath: choice.path!, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
      try {
        const page = await browser.newPage();
        await page.goto(`${service.url}/#token=${token}`);
        await expect.poll(() => page.url()).not.toContain(token);
        await page.goto(`${service.url}/#/runs/${staffRun}`);
        await page.locator('[data-testid=queue-partition]').nth(2).waitFor();
        expect(await page.locator('[data-testid=queue-partition]').count()).toBe(3);
        expect(await page.locator('[data-testid=queue-tally]').textContent()).toContain(`${PICKERS.toLocaleString('en-US')} inserted by this run over 3 range(s)`);
        expect(await page.locator('[data-testid=queue-worker]').count()).toBe(detail.queue.workers.length);
      } finally {
        await browser.close();
      }
    } else console.log(`[queue] review page not checked: ${choice.skip}`);
    const messages = await stream;
    const snapshots = messages.filter((m) => m.event === 'queue').map((m) => m.data as { partitions: Array<{ state: string; rowsDone: number }> });
    expect(messages[messages.length - 1]!.event).toBe('end');
    expect(snapshots.length).toBeGreaterThanOrEqual(2);
    const done = snapshots.map((s) => s.partitions.reduce((n, p) => n + p.rowsDone, 0));
    // Sent as it changed: rows done never go back, and the last snapshot is the finished run.
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(done[0]).toBeLessThan(PICKERS);
    expect(snapshots[snapshots.length - 1]!.partitions.map((p) => p.state)).toEqual(['completed', 'completed', 'completed']);
  });

  it('ferry rollback <queued run> --queue: refused while a range runs or a control row disagrees; then everything of the run in one go, children first', async () => {
    const before = await counts();
    expect(before).toEqual({ depots: DEPOTS + 1, staff: PICKERS + 1, mappings: DEPOTS + PICKERS, own_depot: 1, own_staff: 1 });

    // A range still running (as its worker would mark it): refused, nothing touched.
    await db.sql('target', `UPDATE ferry_queue.partitions SET state = 'running', worker_id = 'elsewhere:1' WHERE plan_idx = 1 AND idx = 1`);
    const busy = await runFerry(env, ['rollback', '1', '--queue']);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toContain('QUEUED_RUN_IN_PROGRESS');
    expect(busy.stderr).toContain('range 2/3 of public.staff is running on elsewhere:1');
    expect(await counts()).toEqual(before);
    await db.sql('target', `UPDATE ferry_queue.partitions SET state = 'completed', worker_id = NULL WHERE plan_idx = 1 AND idx = 1`);

    // One range's control row rewritten by someone: refused, nothing touched (not even the other ranges).
    const victim = Number((await db.sql('target', `SELECT migration_ids[1] AS id FROM ferry_queue.partitions WHERE plan_idx = 1 AND idx = 2`)).rows[0]!.id);
    await db.sql('target', `UPDATE ferry_control.migration_control SET target_table = 'public.depots' WHERE id = $1`, [victim]);
    const tampered = await runFerry(env, ['rollback', '1', '--queue']);
    expect(tampered.code).not.toBe(0);
    expect(tampered.stderr).toContain('CONTROL_TAMPERED');
    expect(tampered.stderr).toContain(`migration ${victim}`);
    expect(await counts()).toEqual(before);
    await db.sql('target', `UPDATE ferry_control.migration_control SET target_table = 'public.staff' WHERE id = $1`, [victim]);

    // The service's Roll back on the parent plan's run alone: its children's rows point at it, so nothing goes.
    const depotsRun = Number((await db.sql('target', 'SELECT store_run_id FROM ferry_queue.plans WHERE idx = 0')).rows[0]!.store_run_id);
    const viaApi = await fetch(`${service.url}/api/runs/${depotsRun}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    const refused = (await viaApi.json()) as { error: { code: string; message: string } };
    expect(viaApi.status).toBe(400);
    expect(refused.error.code).toBe('ROLLBACK_HAS_DEPENDANTS');
    expect(refused.error.message).toContain('points at public.depots');
    expect(await counts()).toEqual(before);

    const rolled = await runFerry(env, ['rollback', '1', '--queue']);
    expect(rolled.code, rolled.stdout + rolled.stderr).toBe(0);
    const order = [...rolled.stdout.matchAll(/↩ (public\.\w+): (\d+) rows and (\d+) mappings deleted/g)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
    expect(order).toEqual([
      ['public.staff', PICKERS, PICKERS],
      ['public.depots', DEPOTS, DEPOTS],
    ]);
    expect(rolled.stdout).toContain(`queued run 1 rolled back in one transaction: ${PICKERS + DEPOTS} rows and ${PICKERS + DEPOTS} mappings deleted`);
    // The target as it was before the run: only what ferry never wrote.
    expect(await counts()).toEqual({ depots: 1, staff: 1, mappings: 0, own_depot: 1, own_staff: 1 });
    const controls = (await db.sql('target', `SELECT status, count(*)::int AS n, sum(rows_rolled_back)::int AS rows FROM ferry_control.migration_control GROUP BY 1`)).rows;
    expect(controls).toEqual([{ status: 'rolled_back', n: 6, rows: PICKERS + DEPOTS }]);

    // Workers stopped: shown so by the service.
    await stopWorkers(workers);
    const after = (await (await fetch(`${service.url}/api/runs/${depotsRun}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { queue: { workers: Array<{ liveness: string }>; rolledBack: { rowsDeleted: number } } };
    expect(after.queue.workers.length).toBeGreaterThanOrEqual(1);
    expect(after.queue.workers.every((w) => w.liveness === 'stopped')).toBe(true);
    expect(after.queue.rolledBack.rowsDeleted).toBe(PICKERS + DEPOTS);

    const again = await runFerry(env, ['rollback', '1', '--queue']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('queued run 1 was already rolled back; nothing to do');
    const shown = await runFerry(env, ['runs', 'show', String(depotsRun)]);
    expect(shown.stdout).toContain(`↩ rolled back as a whole by queue-roller`);
    expect(shown.stdout).not.toContain("Inserted by this run (counted from the target's mappings)");
  });
});
