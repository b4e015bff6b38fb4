import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBundle } from '../../agents/code-interpreter/bundle.js';
import { formatDiagnostics, typecheckProgram } from '../../agents/code-interpreter/typecheck.js';
import { SESSION_SETTINGS_SQL, runtimeSource } from '../../src/core/expr/index.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { policy } from '../sandbox/helpers.js';
import { CASES } from './conformance-cases.js';
import { agree, compileCase, evalInPostgres, wireRow, type CompiledCase, type Outcome } from './conformance-harness.js';

/**
 * The runtime where it will run: a sample of the conformance cases compiled into one program
 * (runtime inlined, type-checked and bundled by the Code Interpreter's own functions) and run
 * in the Docker sandbox image through the project's driver; each answer must match PostgreSQL's.
 */
const SAMPLE_OPS = new Set(['||', 'lower', 'initcap', 'substring', 'split_part', 'regexp_replace', 'integer /', 'numeric /', 'round', '::integer', '::numeric(p,s)', '::boolean', '::date', '::timestamptz', '::uuid', 'CASE', 'full_name']);
const sample = CASES.map((c, index) => ({ c, index })).filter(({ c }) => SAMPLE_OPS.has(c.op));

function programSource(compiled: readonly CompiledCase[]): string {
  return [
    runtimeSource(),
    "import type { ProgramOutput, SourceRow } from './row-types';",
    'const parents: ReadonlyMap<string, ReadonlyMap<string, unknown>> = new Map();',
    'const cases: Array<(row: Readonly<Record<string, unknown>>) => PgValue> = [',
    ...compiled.map((k) => `  (row) => ${k.ts},`),
    '];',
    `const types: PgScalar[] = [${compiled.map((k) => JSON.stringify(k.typed.type)).join(', ')}];`,
    '/** Each input row names its case; the answer is the value as text or the SQLSTATE of the refusal. */',
    'export function transform(row: SourceRow): ProgramOutput {',
    '  void parents;',
    '  const index = Number(row["case"]);',
    '  try {',
    '    const v = cases[index]!(row);',
    "    return { outcome: JSON.stringify({ ok: pg.cast(v, types[index]!, { type: 'text' }) }) };",
    '  } catch (e) {',
    '    if (e instanceof pg.Error) return { outcome: JSON.stringify({ error: e.sqlstate, message: e.message }) };',
    '    throw e;',
    '  }',
    '}',
    '',
  ].join('\n');
}

const ROW_TYPES = 'export type SourceRow = Record<string, unknown>;\nexport interface ProgramOutput { outcome: string }\n';

describe(`column language in the Docker sandbox: ${sample.length} conformance cases`, () => {
  let db: TestDatabase;
  let client: pg.Client;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase('ferry_expr_box');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(SESSION_SETTINGS_SQL);
    dir = await mkdtemp(join(tmpdir(), 'ferry-expr-box-'));
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('type-checks under the program rules, runs in the sandbox image, and agrees with PostgreSQL on every row', async () => {
    const compiled = await Promise.all(sample.map(({ c }) => compileCase(c)));
    const program = programSource(compiled);
    const checked = typecheckProgram({ program, rowTypes: ROW_TYPES });
    expect(checked.ok, formatDiagnostics(checked.diagnostics)).toBe(true);
    const bundle = await writeBundle({ program, rowTypes: ROW_TYPES }, dir);

    const input: Array<{ k: string; r: Record<string, unknown> }> = [];
    const expected = new Map<string, Outcome>();
    for (const [i, k] of compiled.entries()) {
      for (const [j, row] of k.c.rows.entries()) {
        const key = `${i}:${j}`;
        input.push({ k: key, r: { ...(await wireRow(client, k.c.columns, row)), case: i } });
        expected.set(key, await evalInPostgres(client, k, row));
      }
    }

    const driver = await dockerDriverForTests();
    expect(driver.kind).toBe('docker');
    const session = await driver.start({ runId: `expr-conformance-${Date.now()}`, bundle, policy: policy(), labels: { 'ferry.test': 'expr' } });
    let outcome;
    try {
      outcome = await session.transform(1, input);
    } finally {
      await session.close();
    }
    expect(outcome.status, 'message' in outcome ? outcome.message : '').toBe('ok');
    if (outcome.status !== 'ok') return;
    expect(outcome.rows).toHaveLength(input.length);
    const differences = outcome.rows
      .map((r) => ({ key: r.k, postgres: expected.get(r.k)!, sandbox: JSON.parse(String(r.r.outcome)) as Outcome }))
      .filter((d) => !agree(d.postgres, d.sandbox))
      .map((d) => ({ ...d, expr: compiled[Number(d.key.split(':')[0])]!.c.expr }));
    expect(differences).toEqual([]);
  });
});
