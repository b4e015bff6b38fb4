import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlans, prepareProgram } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { completed, createFaultCase, describeAttempt, expectValidates, pickRow, runOnce, tally, withConnections, type Attempt } from './fault-case.js';

/**
 * A missing FK parent at a random row k: pets reference owners through the owners
 * migration's mappings; pet k names an owner the legacy data does not have. Under
 * onOrphan "fail" the run stops at k's batch naming its legacy key and value, earlier
 * batches stay, nothing of that batch is written. When the parent turns up and is migrated,
 * the next run finishes and every reference points at its remapped owner.
 */
const OWNERS = 40;
const PETS = 600;
const BATCH = 50;
const MISSING = 999;

const LEGACY = `
CREATE TABLE owners (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE pets (id serial PRIMARY KEY, owner_id integer NOT NULL, name text NOT NULL);
INSERT INTO owners (name) SELECT 'owner ' || g FROM generate_series(1, ${OWNERS}) g;
INSERT INTO pets (owner_id, name) SELECT 1 + g % ${OWNERS}, 'pet ' || g FROM generate_series(1, ${PETS}) g;
`;
const TARGET = `
CREATE TABLE owners (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, name text NOT NULL);
CREATE TABLE pets (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_id integer UNIQUE, owner_id uuid REFERENCES owners(id), name text NOT NULL);
`;

describe('a missing FK parent at a random row', () => {
  let driver: SandboxDriver;
  let pair: DatabasePair;
  let work: string;
  let step = 0;
  type P = { plan: MigrationPlan; analysis: SchemaAnalysis };
  const run = async (p: P): Promise<Attempt> => {
    step += 1;
    const program = await prepareProgram({ plan: p.plan, analysis: p.analysis, dir: join(work, `p${step}`) });
    return runOnce(pair, { ...p, program }, driver);
  };
  const petCounts = { sourceCountSql: 'SELECT count(*) AS n FROM pets', table: 'pets', sourceTable: 'public.pets', targetTable: 'public.pets' };

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    // The legacy FK goes on NOT VALID afterwards, as on old data; the orphan is planted per test.
    pair = await createFaultCase({ prefix: 'faultfk_', legacy: LEGACY, target: TARGET });
    work = await mkdtemp(join(tmpdir(), 'ferry-faults-fk-'));
  });
  afterAll(async () => {
    await pair?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('under "fail": stops at the orphan’s batch naming its legacy key and value; when the parent turns up, the next run finishes exactly', async () => {
    const keys = (await pair.sql('legacy', 'SELECT id FROM pets ORDER BY id')).rows.map((r) => Number(r.id));
    const { key: orphan, batch } = pickRow(keys, BATCH, 'missing FK parent');
    console.log(`[faults] pet ${orphan} (batch ${batch + 1}) names owner ${MISSING}, which does not exist`);
    await pair.sql('legacy', `UPDATE pets SET owner_id = ${MISSING} WHERE id = ${orphan}; ALTER TABLE pets ADD CONSTRAINT pets_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES owners(id) NOT VALID;`);

    const planned = (await withConnections(pair, (conn) => describeToPlans({ description: 'move owners, then pets', conn })))!;
    expect(planned.map((p) => p.plan.target.table)).toEqual(['owners', 'pets']);
    const owners: P = { plan: approvePlan(planned[0]!.plan, 'faults'), analysis: planned[0]!.analysis };
    const ownerCol = planned[1]!.plan.columns.find((c) => c.target === 'owner_id')!;
    expect(ownerCol).toMatchObject({ status: 'needs_review', origin: { kind: 'via_mapping', onOrphan: 'needs_review' } });
    expect(ownerCol.reason).toContain(`id ${orphan} → ${MISSING}`);
    const decided = await withConnections(pair, (conn) =>
      applyOverrides(planned[1]!.plan, { orphans: [{ column: 'owner_id', policy: 'fail' }] }, 'faults', createPlanProbe(conn.source, conn.target)),
    );
    const pets: P = { plan: approvePlan({ ...decided, strategy: { ...decided.strategy, batchSize: BATCH } }, 'faults'), analysis: planned[1]!.analysis };

    expect(describeAttempt(await run(owners))).toBe('completed');
    const failedRun = await run(pets);
    expect(describeAttempt(failedRun)).toMatch(/^failed FK_ORPHAN/);
    if ('thrown' in failedRun || failedRun.status !== 'failed') return;
    expect(failedRun.key).toBe(String(orphan));
    expect(failedRun.error).toContain(`owner_id ← owner_id = ${MISSING} has no mapping in public.owners → public.owners`);
    expect(failedRun.error).toContain(String(orphan));
    expect(failedRun.inserted).toBe(batch * BATCH);
    expect(await tally(pair, petCounts)).toMatchObject({ target: batch * BATCH, mappings: batch * BATCH, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, runningRuns: 0 });
    // Nothing of the orphan's batch.
    const inBatch = keys.slice(batch * BATCH, (batch + 1) * BATCH);
    expect(Number((await pair.sql('target', 'SELECT count(*) AS n FROM pets WHERE legacy_id = ANY($1::int[])', [inBatch])).rows[0]!.n)).toBe(0);

    // The parent turns up in the legacy data; its migration picks it up, then the pets finish.
    await pair.sql('legacy', `INSERT INTO owners (id, name) VALUES (${MISSING}, 'late owner')`);
    const late = await run(owners);
    expect(late).toMatchObject({ status: 'completed', inserted: 1, skipped: OWNERS });
    const finished = completed(await run(pets));
    expect(finished).toMatchObject({ inserted: PETS - batch * BATCH, skipped: batch * BATCH });
    expect(await tally(pair, petCounts)).toEqual({ source: PETS, target: PETS, mappings: PETS, duplicateLegacyIds: 0, mappingsWithoutRow: 0, rowsWithoutMapping: 0, insertedByRuns: PETS, runningRuns: 0 });
    // Every pet points at the owner its legacy row names, read back through both mappings.
    const wrong = await pair.sql(
      'target',
      `SELECT pm.legacy_id AS pet, om.legacy_id AS owner FROM pets p
         JOIN ferry_control.migration_mappings pm ON pm.target_table = 'public.pets' AND pm.new_id = p.id::text
         LEFT JOIN ferry_control.migration_mappings om ON om.target_table = 'public.owners' AND om.new_id = p.owner_id::text`,
    );
    const legacyOwner = new Map((await pair.sql('legacy', 'SELECT id, owner_id FROM pets')).rows.map((r) => [String(r.id), String(r.owner_id)]));
    expect(wrong.rows.filter((r) => legacyOwner.get(r.pet as string) !== r.owner)).toEqual([]);
    expect(wrong.rows.find((r) => r.pet === String(orphan))?.owner).toBe(String(MISSING));
    await withConnections(pair, (conn) => expectValidates(conn, pets.plan, pets.analysis, finished.migrationId));
  });
});
