import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTable } from '../../src/core/artifacts/schema-analysis.js';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import { validateMigration } from '../../src/validation/validate.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, planApproveRun } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * Pagila's `language.name character(20)` and a `character(3)` country code as the legacy key of
 * a parent its children reference: blank-padded values. PostgreSQL drops the padding when it
 * casts them to text or varchar, and so does validation; the run must write what PostgreSQL
 * would ('English', not 'English' and 13 spaces), record the key as 'GB' (not 'GB '), and
 * resolve the children's padded codes through those mappings. A leading space is data and stays.
 */
const LEGACY = `
CREATE DOMAIN iso_code AS character(3);
CREATE TABLE language (language_id serial PRIMARY KEY, name character(20) NOT NULL, last_update timestamp NOT NULL DEFAULT now());
INSERT INTO language (name) VALUES ('English'), ('Italian'), ('Japanese'), ('Mandarin');
CREATE TABLE country (code iso_code PRIMARY KEY, label character(30) NOT NULL, region character(10), seats smallint);
INSERT INTO country VALUES ('GB', 'United Kingdom', 'Europe', 650), ('USA', 'United States', 'Americas', 435), ('DE', 'Germany', NULL, 630), ('JP ', 'Japan', 'Asia', NULL), (' NZ', 'New Zealand', 'Oceania', 120);
CREATE TABLE town (town_id integer PRIMARY KEY, town_name varchar(40) NOT NULL, country_code character(3) REFERENCES country(code));
INSERT INTO town VALUES (1, 'London', 'GB'), (2, 'Boston', 'USA'), (3, 'Berlin', 'DE'), (4, 'Osaka', 'JP'), (5, 'Auckland', ' NZ'), (6, 'Nowhere', NULL);
`;
const TARGET = `
CREATE TABLE languages (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_language_id integer UNIQUE, name text NOT NULL);
CREATE TABLE nations (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_code text UNIQUE, label text NOT NULL, region varchar(10), seats integer);
CREATE TABLE towns (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_town_id integer UNIQUE, town_name text NOT NULL, nation_id uuid REFERENCES nations(id));
`;

describe('blank-padded character(n) source columns, a key among them', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('bpchar_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-bpchar-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'bpchar-tester');
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('writes character(20) text without its padding, as PostgreSQL casts it, and validation agrees', async () => {
    // The column language reads a character(n) column as that text: initcap() sees 'english', not 'english' and 13 spaces.
    await planApproveRun(env, 'Move every language into languages, name in title case', ['--column', 'name=initcap(lower(name))']);
    const rows = await db.sql('target', 'SELECT legacy_language_id AS k, name FROM languages ORDER BY 1');
    expect(rows.rows).toEqual([
      { k: 1, name: 'English' },
      { k: 2, name: 'Italian' },
      { k: 3, name: 'Japanese' },
      { k: 4, name: 'Mandarin' },
    ]);
  });

  it('keeps a character(3) key (through a domain) as legacy_code and in the mappings unpadded, and the children find their parents by it', async () => {
    // A smallint column in an expression: integer arithmetic, in the program and in validation.
    const plan = await planApproveRun(env, 'Move every country into nations', ['--column', 'seats=seats * 2']);
    // A target column named for the legacy key's own name (not an id) keeps the key.
    expect(plan).toMatch(/legacy_code\s+text\s+copy code\s+0\.95\s+keeps the legacy key country\.code/);
    const nations = await db.sql('target', 'SELECT legacy_code, label, region, seats FROM nations ORDER BY legacy_code');
    expect(nations.rows).toEqual([
      { legacy_code: ' NZ', label: 'New Zealand', region: 'Oceania', seats: 240 },
      { legacy_code: 'DE', label: 'Germany', region: null, seats: 1260 },
      { legacy_code: 'GB', label: 'United Kingdom', region: 'Europe', seats: 1300 },
      { legacy_code: 'JP', label: 'Japan', region: 'Asia', seats: null },
      { legacy_code: 'USA', label: 'United States', region: 'Americas', seats: 870 },
    ]);
    const keys = await db.sql('target', `SELECT legacy_id FROM ferry_control.migration_mappings WHERE source_table = 'public.country' ORDER BY 1`);
    expect(keys.rows.map((r) => r.legacy_id)).toEqual([' NZ', 'DE', 'GB', 'JP', 'USA']);

    await planApproveRun(env, 'Move every town into towns');
    const towns = await db.sql('target', 'SELECT t.legacy_town_id AS town, n.legacy_code AS nation FROM towns t LEFT JOIN nations n ON n.id = t.nation_id ORDER BY 1');
    expect(towns.rows).toEqual([
      { town: 1, nation: 'GB' },
      { town: 2, nation: 'USA' },
      { town: 3, nation: 'DE' },
      { town: 4, nation: 'JP' },
      { town: 5, nation: ' NZ' },
      { town: 6, nation: null },
    ]);
  });

  it('validates the same by walking every row as by range checksums', async () => {
    const source = new pg.Client({ connectionString: db.legacy.url });
    const target = new pg.Client({ connectionString: db.target.url });
    await Promise.all([source.connect(), target.connect()]);
    try {
      const analysis = await analyzeSchemas({ source, target });
      const runs = await target.query<{ id: string; target_table: string }>('SELECT id, target_table FROM ferry_control.migration_control ORDER BY id');
      expect(runs.rows).toHaveLength(3);
      for (const run of runs.rows) {
        const targetTable = findTable(analysis.target, run.target_table.split('.')[1]!, 'public')!;
        for (const method of ['range_checksum', 'row_walk'] as const) {
          const report = await validateMigration({ migrationId: Number(run.id), source, target, targetTable, method });
          expect({ table: run.target_table, method, status: report.status }).toEqual({ table: run.target_table, method, status: 'passed' });
          expect(report.method).toBe(method);
        }
      }
    } finally {
      await Promise.allSettled([source.end(), target.end()]);
    }
  });
});
