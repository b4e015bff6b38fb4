import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_SETTINGS_SQL } from '../../src/core/expr/index.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { CASES } from './conformance-cases.js';
import { agree, compileCase, evalInPostgres, loadModule, moduleSource, wireRow, type CompiledCase, type LoadedModule, type Outcome } from './conformance-harness.js';

/**
 * Two compilers, one meaning: every case is evaluated by PostgreSQL (the SQL compiler's output
 * over a typed VALUES row) and by the compiled TypeScript (the runtime the sandbox runs), and
 * must give the same text or the same refusal (SQLSTATE). A difference fails here.
 */
const operators = new Set(CASES.map((c) => c.op)).size;
const evaluations = CASES.reduce((n, c) => n + c.rows.length, 0);

describe(`column language conformance: ${operators} operators × edge values = ${evaluations} evaluations, PostgreSQL vs compiled TypeScript`, () => {
  let db: TestDatabase;
  let client: pg.Client;
  let compiled: CompiledCase[];
  let mod: LoadedModule;

  beforeAll(async () => {
    db = await createTestDatabase('ferry_expr_conf');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(SESSION_SETTINGS_SQL);
    compiled = await Promise.all(CASES.map(compileCase));
    mod = await loadModule(moduleSource(compiled));
  });

  afterAll(async () => {
    await mod?.dispose();
    await client?.end();
    await db?.drop();
  });

  CASES.forEach((c, index) => {
    it(`${c.op}: ${c.expr} over ${c.rows.length} rows`, async () => {
      const k = compiled[index]!;
      const differences: Array<{ row: Record<string, string | null>; postgres: Outcome; typescript: Outcome }> = [];
      for (const row of c.rows) {
        const postgres = await evalInPostgres(client, k, row);
        const typescript = mod.run(index, await wireRow(client, c.columns, row));
        if (!agree(postgres, typescript)) differences.push({ row, postgres, typescript });
      }
      expect(differences, `SQL: ${k.sql}\nTS: ${k.ts}`).toEqual([]);
    });
  });
});
