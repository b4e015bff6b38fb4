import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import { describeToPlans, openConnections, type Connections } from '../../src/chain.js';
import { executeRun } from '../../src/run/execute-run.js';
import { RunStore } from '../../src/store/run-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const LEGACY = `
CREATE TABLE kilns (kiln_no integer PRIMARY KEY, maker text, max_temp_c integer NOT NULL);
INSERT INTO kilns VALUES (4, 'Nabertherm "Top"', 1320), (9, NULL, 1280), (17, 'Skutt  ', 1290), (23, 'Ölfen 🔥', 1300), (31, '', 1100);
CREATE TABLE firings (id integer PRIMARY KEY, kiln_no integer NOT NULL REFERENCES kilns(kiln_no), cone text NOT NULL);
INSERT INTO firings VALUES (1, 4, '06');
`;
const TARGET = `
CREATE TABLE kilns (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, maker text, max_temp_c integer NOT NULL);
CREATE TABLE firings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, kiln_no uuid NOT NULL REFERENCES kilns(id), cone text NOT NULL);
`;

describe('executeRun: a run event the run store refuses is logged and surfaced, not swallowed (real PostgreSQL, real Docker)', () => {
  let db: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let work: string;

  beforeAll(async () => {
    db = await createDatabasePair('evt_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(db.legacy.url, db.target.url);
    store = await RunStore.open(db.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-evt-'));
  });
  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await db?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the run completes, its result and its record carry a warning naming the lost event, and pino logs each one', async () => {
    const planned = await describeToPlans({ description: 'move kilns, then firings', conn });
    const kilns = planned!.find((p) => p.plan.target.table === 'kilns')!;
    const plan = approvePlan(kilns.plan, 'evt-test');
    // The approval goes on record in the run store, as ferry approve does: executeRun runs only that.
    await store.savePlan(plan, kilns.analysis, { by: 'evt-test' });
    // The store's database refuses one kind of event, as a full disk or a lost privilege would.
    await db.sql('target', `ALTER TABLE ferry.run_events ADD CONSTRAINT no_batch_events CHECK (event->>'type' <> 'batch_committed')`);
    const logged: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });

    const outcome = await executeRun({
      store,
      plan,
      analysis: kilns.analysis,
      conn,
      driver: await dockerDriverForTests(),
      policy: defaultPolicy,
      workDir: work,
      startedBy: 'evt-test',
      logger,
    });
    expect(outcome.created).toBe(true);
    if (!outcome.created) return;
    expect(outcome.result).toMatchObject({ status: 'completed', inserted: 5 });
    expect(outcome.report?.status).toBe('passed');

    const types = (await store.events(outcome.run.id)).map((e) => e.event.type);
    expect(types).toContain('started');
    expect(types).toContain('finished');
    expect(types).not.toContain('batch_committed');

    expect(outcome.warnings).toHaveLength(1);
    expect(outcome.warnings[0]).toMatch(new RegExp(`^1 of \\d+ events of run ${outcome.run.id} could not be recorded in the run store \\(first: event \\d+, batch_committed: .*no_batch_events`));
    expect(outcome.warnings[0]).toContain(`ferry runs show ${outcome.run.id} is incomplete`);
    expect((await store.getRun(outcome.run.id)).outcome).toMatchObject({ warnings: outcome.warnings });
    expect(logged).toEqual([expect.objectContaining({ level: 40, msg: 'run event not recorded in the run store', runId: outcome.run.id, eventType: 'batch_committed' })]);
  });
});
