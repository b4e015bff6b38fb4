import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanSet } from '../../src/core/artifacts/migration-plan.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { startFerry, startWorker, stopWorkers, type WorkerProc } from './workers.js';

/**
 * Hauliers, their lanes and each lane's stops: a chain of NOT NULL foreign keys three deep,
 * with untidy text and gaps in the keys. The set's three plans are queued at once; a child's
 * ranges may only be claimed once its parent completed.
 */
const LEGACY = `
CREATE TABLE hauliers (id integer PRIMARY KEY, trade_name text NOT NULL, vat_no text);
INSERT INTO hauliers SELECT g * 5, CASE g % 3 WHEN 0 THEN 'Frachtgut Ærø ' || g WHEN 1 THEN 'O''Brien & Sons ' || g ELSE '🚚 ' || g || '   ' END, CASE WHEN g % 4 = 0 THEN NULL ELSE 'VAT' || g END
  FROM generate_series(1, 40) g;
CREATE TABLE lanes (id integer PRIMARY KEY, haulier_id integer NOT NULL REFERENCES hauliers(id), origin text NOT NULL, destination text);
INSERT INTO lanes SELECT 100 + g * 3, ((g % 40) + 1) * 5, 'Port ' || (g % 17), CASE WHEN g % 6 = 0 THEN NULL ELSE 'Hub "' || (g % 9) || '"' END
  FROM generate_series(1, 600) g;
CREATE TABLE stops (id integer PRIMARY KEY, lane_id integer NOT NULL REFERENCES lanes(id), position integer NOT NULL, town text);
INSERT INTO stops SELECT 7000 + g * 2, 100 + ((g % 600) + 1) * 3, g % 11, CASE WHEN g % 10 = 0 THEN '' ELSE 'Town ' || (g % 97) END
  FROM generate_series(1, 9000) g;
`;
const TARGET = `
CREATE TABLE hauliers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, trade_name text NOT NULL, vat_no text);
CREATE TABLE lanes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, haulier_id uuid NOT NULL REFERENCES hauliers(id), origin text NOT NULL, destination text);
CREATE TABLE stops (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, lane_id uuid NOT NULL REFERENCES lanes(id), position integer NOT NULL, town text);
`;

describe('ferry run <plan set> --queue: three tables, children after their parents', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let setPath: string;
  const workers: WorkerProc[] = [];

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('qset_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-queue-set-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'queue-set', { FERRY_QUEUE_LEASE_MS: '20000', FERRY_QUEUE_RETRY_DELAY_S: '1' });
    const planned = await runFerry(env, ['plan', 'move hauliers, then lanes, then stops']);
    expect(planned.stderr, planned.stdout).toBe('');
    setPath = /Plan set written to (\S+):/.exec(planned.stdout)![1]!;
    const set = PlanSet.parse(JSON.parse(await readFile(setPath, 'utf8')));
    expect(set.plans.map((p) => p.targetTable)).toEqual(['public.hauliers', 'public.lanes', 'public.stops']);
    const approved = await runFerry(env, ['approve', setPath]);
    expect(approved.code, approved.stdout + approved.stderr).toBe(0);
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('queues the three plans at once; lanes’ jobs are sent only after hauliers completed, stops’ after lanes; every reference resolved', async () => {
    for (let i = 0; i < 3; i += 1) workers.push(startWorker(env));
    const run = startFerry(env, ['run', setPath, '--queue', '--partitions', '3']);
    const ended = await run.exited;
    console.log(run.output().split('\n').filter((l) => !l.startsWith('⏳')).join('\n'));
    expect(ended.code, run.output()).toBe(0);
    expect(run.output()).toMatch(/queued run 1: hauliers in 3 range\(s\) \(run \d+\); lanes in 3 range\(s\) \(run \d+, after its parents\); stops in 3 range\(s\) \(run \d+, after its parents\)/);
    expect(run.output().match(/ALL VALIDATIONS PASSED/g)).toHaveLength(3);

    // When each plan's jobs were created, and when the last range of each plan finished.
    const created = (await db.sql('target', `SELECT (data->>'planIdx')::int AS plan, min(created_on) AS first FROM ferry_jobs.job WHERE name = 'ferry-partition' GROUP BY 1 ORDER BY 1`)).rows;
    const finished = (await db.sql('target', `SELECT plan_idx AS plan, max(at) AS last FROM ferry_queue.events WHERE event->>'type' = 'finished' GROUP BY 1 ORDER BY 1`)).rows;
    expect(created).toHaveLength(3);
    expect(new Date(created[1]!.first).getTime()).toBeGreaterThan(new Date(finished[0]!.last).getTime());
    expect(new Date(created[2]!.first).getTime()).toBeGreaterThan(new Date(finished[1]!.last).getTime());
    const claimedChildBeforeParent = (
      await db.sql(
        'target',
        `SELECT count(*)::int AS n FROM ferry_queue.events c JOIN ferry_queue.plans p ON p.queue_run_id = c.queue_run_id AND p.idx = c.plan_idx
          WHERE c.event->>'type' = 'claimed' AND EXISTS (
            SELECT 1 FROM ferry_queue.events f WHERE f.plan_idx = ANY(p.parents) AND f.event->>'type' = 'finished' AND f.at > c.at)`,
      )
    ).rows[0]!.n;
    expect(claimedChildBeforeParent).toBe(0);

    const joined = (
      await db.sql(
        'target',
        `SELECT (SELECT count(*) FROM hauliers)::int AS hauliers, (SELECT count(*) FROM lanes)::int AS lanes, (SELECT count(*) FROM stops)::int AS stops,
                (SELECT count(*) FROM stops s JOIN lanes l ON l.id = s.lane_id JOIN hauliers h ON h.id = l.haulier_id
                  WHERE l.legacy_id = 100 + (((s.legacy_id - 7000) / 2 % 600) + 1) * 3 AND h.legacy_id = ((((l.legacy_id - 100) / 3) % 40) + 1) * 5)::int AS chained`,
      )
    ).rows[0];
    expect(joined).toEqual({ hauliers: 40, lanes: 600, stops: 9000, chained: 9000 });
  });
});
