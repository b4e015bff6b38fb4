import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { startFerry, startWorker, stopWorkers, type WorkerProc } from './workers.js';

/**
 * A ledger of 200,000 entries with sparse keys (every third number, so the ranges are cut on
 * percentiles, not arithmetic), dirty memos (quotes, tabs, backslashes, emoji, NULLs), moved
 * into journal_lines with fresh uuids by three `ferry worker` processes, in 12 key ranges.
 */
const ROWS = 200_000;
const LEGACY = `
CREATE TABLE ledger_entries (entry_no bigint PRIMARY KEY, account_code text NOT NULL, amount_cents bigint NOT NULL, memo text, booked_on date NOT NULL);
INSERT INTO ledger_entries
SELECT g * 3 + 7, 'ACC-' || lpad((g % 97)::text, 3, '0'), (g * 7919) % 1000003 - 500000,
       CASE g % 7 WHEN 0 THEN NULL WHEN 1 THEN 'refund "partial"' WHEN 2 THEN E'tab\\there' WHEN 3 THEN 'back\\\\slash' WHEN 4 THEN '💶 fee' ELSE 'entry ' || g END,
       date '2019-01-01' + (g % 1500)
  FROM generate_series(1, ${ROWS}) g;
`;
const TARGET = `
CREATE TABLE journal_lines (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id bigint UNIQUE, account_code text NOT NULL, amount_cents bigint NOT NULL, memo text, booked_on date NOT NULL);
`;

describe('ferry run --queue: 200,000 rows in 12 ranges, three ferry worker processes', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let planPath: string;
  const workers: WorkerProc[] = [];

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('qrun_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-queue-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'queue-tester', { FERRY_QUEUE_LEASE_MS: '20000', FERRY_QUEUE_RETRY_DELAY_S: '1' });
    const planned = await runFerry(env, ['plan', 'Migrate every entry from ledger_entries into journal_lines']);
    expect(planned.stderr, planned.stdout).toBe('');
    planPath = /written to (\S+\.json)/.exec(planned.stdout)![1]!;
    const approved = await runFerry(env, ['approve', planPath]);
    expect(approved.code, approved.stdout + approved.stderr).toBe(0);
  });
  afterAll(async () => {
    await stopWorkers(workers);
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('every row once, with its mapping, validated; the workers stop cleanly on SIGTERM', async () => {
    for (let i = 0; i < 3; i += 1) workers.push(startWorker(env));
    const run = startFerry(env, ['run', planPath, '--queue', '--partitions', '12']);
    const ended = await run.exited;
    console.log(run.output().split('\n').filter((l) => !l.startsWith('⏳')).join('\n'));
    expect(ended.code, run.output()).toBe(0);
    expect(run.output()).toContain('ALL VALIDATIONS PASSED');
    expect(run.output()).toMatch(/⏳ [\d,]+ \/ 200,000 rows, [\d,]+ rows\/s/);

    const counts = await db.sql(
      'target',
      `SELECT (SELECT count(*) FROM journal_lines)::int AS rows,
              (SELECT count(*) FROM ferry_control.migration_mappings)::int AS mappings,
              (SELECT count(DISTINCT legacy_id) FROM ferry_control.migration_mappings)::int AS distinct_ids,
              (SELECT count(*) FROM journal_lines j LEFT JOIN ferry_control.migration_mappings m ON m.new_id = j.id::text WHERE m.new_id IS NULL)::int AS unmapped,
              (SELECT count(*) FROM ferry_control.migration_control WHERE status = 'completed')::int AS completed`,
    );
    expect(counts.rows[0]).toEqual({ rows: ROWS, mappings: ROWS, distinct_ids: ROWS, unmapped: 0, completed: 12 });
    const parts = await db.sql('target', `SELECT state, attempts, rows_inserted::int AS rows, worker_id FROM ferry_queue.partitions ORDER BY idx`);
    expect(parts.rows).toHaveLength(12);
    expect(parts.rows.every((p) => p.state === 'completed')).toBe(true);
    expect(parts.rows.reduce((n, p) => n + p.rows, 0)).toBe(ROWS);
    // Every worker took part (12 ranges over 3 workers).
    expect(new Set(parts.rows.map((p) => p.worker_id)).size).toBe(3);

    const exits = await stopWorkers(workers);
    expect(exits).toEqual([0, 0, 0].map((code) => ({ code, signal: null })));
    for (const w of workers) expect(w.output()).toContain('stopped');
    const states = await db.sql('target', `SELECT state FROM ferry_queue.workers ORDER BY started_at`);
    expect(states.rows.map((r) => r.state)).toEqual(['stopped', 'stopped', 'stopped']);
  });
});
