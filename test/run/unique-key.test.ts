import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, planApproveRun, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * A legacy table keyed by two columns together, with a unique NOT NULL code beside them, and a
 * child whose FK references that code; a link table keyed by its two FKs alone. The first is
 * tracked by its code (said on the plan), its children find their parents through it; the link
 * table is refused, saying why.
 */
const LEGACY = `
CREATE TABLE shipment (carrier text NOT NULL, tracking_no text NOT NULL, shipment_code text NOT NULL UNIQUE, weight_g integer, PRIMARY KEY (carrier, tracking_no));
INSERT INTO shipment VALUES ('DHL', '00012', 'S-9', 1200), ('UPS', '00012', 'S-3', NULL), ('DHL', '00044', 'S-10', 80);
CREATE TABLE parcel (parcel_id integer PRIMARY KEY, shipment_code text REFERENCES shipment(shipment_code), label text NOT NULL);
INSERT INTO parcel VALUES (7, 'S-9', 'books'), (8, 'S-9', 'lamp'), (9, 'S-10', 'socks'), (10, NULL, 'loose');
CREATE TABLE parcel_tag (parcel_id integer REFERENCES parcel(parcel_id), tag text, PRIMARY KEY (parcel_id, tag));
INSERT INTO parcel_tag VALUES (7, 'fragile'), (8, 'fragile');
`;
const TARGET = `
CREATE TABLE shipments (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), carrier text NOT NULL, tracking_no text NOT NULL, legacy_shipment_code text, weight_g integer);
CREATE TABLE parcels (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_parcel_id integer, shipment_id uuid REFERENCES shipments(id), label text NOT NULL);
CREATE TABLE parcel_tags (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), parcel_id uuid REFERENCES parcels(id), tag text);
`;

describe('a legacy table keyed by several columns', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('ukey_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-ukey-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'ukey-tester');
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('is tracked by its unique NOT NULL code, said on the plan, and its children find their parents by it', async () => {
    const plan = await planApproveRun(env, 'Move every shipment into shipments');
    expect(plan).toContain('legacy key shipment_code');
    expect(plan).toContain('rows are tracked by shipment_code, a unique NOT NULL column: shipment has a composite primary key (carrier, tracking_no)');
    const keys = await db.sql('target', `SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = 'public.shipment' ORDER BY 1`);
    expect(keys.rows.map((r) => r.legacy_id)).toEqual(['S-10', 'S-3', 'S-9']);

    await planApproveRun(env, 'Move every parcel into parcels');
    const parcels = await db.sql('target', 'SELECT p.legacy_parcel_id AS parcel, s.legacy_shipment_code AS shipment, s.carrier FROM parcels p LEFT JOIN shipments s ON s.id = p.shipment_id ORDER BY 1');
    expect(parcels.rows).toEqual([
      { parcel: 7, shipment: 'S-9', carrier: 'DHL' },
      { parcel: 8, shipment: 'S-9', carrier: 'DHL' },
      { parcel: 9, shipment: 'S-10', carrier: 'DHL' },
      { parcel: 10, shipment: null, carrier: null },
    ]);
  });

  it('refuses a link table keyed only by its columns together, saying so', async () => {
    const planned = await runFerry(env, ['plan', 'Move every parcel_tag into parcel_tags']);
    expect(planned.code).not.toBe(0);
    expect(planned.stdout + planned.stderr).toMatch(/SOURCE_KEY_UNSUPPORTED: the source table parcel_tag has a composite primary key \(parcel_id, tag\) and no single-column unique key/);
    expect(planned.stdout + planned.stderr).toContain('a link table');
  });
});
