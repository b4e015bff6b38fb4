import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import type pg from 'pg';
import { checkExpr, compileSql, compileTs, parseExpression, runtimeSource, type Typed } from '../../src/core/expr/index.js';
import type { ConformanceCase } from './conformance-cases.js';

/** One evaluation's answer: a value as PostgreSQL prints it as text (or NULL), or a refusal by SQLSTATE. */
export type Outcome = { ok: string | null } | { error: string; message: string };

export interface CompiledCase {
  c: ConformanceCase;
  typed: Typed;
  sql: string;
  ts: string;
}

export async function compileCase(c: ConformanceCase): Promise<CompiledCase> {
  const typed = checkExpr(await parseExpression(c.expr), { columns: c.columns });
  return { c, typed, sql: compileSql(typed, { rowAlias: 'src' }), ts: compileTs(typed) };
}

const rowSelect = (columns: Record<string, string>): string =>
  Object.entries(columns)
    .map(([name, type], i) => `CAST(CAST($${i + 1} AS text) AS ${type}) AS "${name}"`)
    .join(', ');

/** PostgreSQL's answer for one row: the expression over `(SELECT $1::type AS col, …) AS src`. */
export async function evalInPostgres(client: pg.Client, k: CompiledCase, row: Record<string, string | null>): Promise<Outcome> {
  const params = Object.keys(k.c.columns).map((name) => row[name] ?? null);
  try {
    const r = await client.query<{ v: string | null }>(`SELECT CAST((${k.sql}) AS text) AS v FROM (SELECT ${rowSelect(k.c.columns)}) AS "src"`, params);
    return { ok: r.rows[0]!.v };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return { error: code, message: (e as Error).message };
  }
}

/**
 * The row as the sandbox receives it: each column read by PostgreSQL with its type and sent as
 * JSON the way ferry sends rows (integer as a number, boolean as a boolean, the rest as text).
 */
export async function wireRow(client: pg.Client, columns: Record<string, string>, row: Record<string, string | null>): Promise<Record<string, unknown>> {
  const names = Object.keys(columns);
  const texts = names.map((n, i) => `CAST("src"."${n}" AS text) AS "c${i}"`).join(', ');
  const r = await client.query<Record<string, string | null>>(`SELECT ${texts} FROM (SELECT ${rowSelect(columns)}) AS "src"`, names.map((n) => row[n] ?? null));
  const out: Record<string, unknown> = {};
  names.forEach((n, i) => {
    const v = r.rows[0]![`c${i}`] ?? null;
    const type = columns[n]!;
    out[n] = v === null ? null : type === 'integer' || type === 'smallint' ? Number(v) : type === 'boolean' ? v === 'true' : v;
  });
  return out;
}

/** The TypeScript module: the runtime inlined, then one function per case, as a generated program would hold them. */
export function moduleSource(cases: readonly CompiledCase[]): string {
  return [
    runtimeSource(),
    'type Row = Readonly<Record<string, unknown>>;',
    '/** Parent columns by `path.column`, filled by the test as the orchestrator will stream them. */',
    'export const parents = new Map<string, ReadonlyMap<string, unknown>>();',
    'export const cases: Array<(row: Row) => PgValue> = [',
    ...cases.map((k) => `  (row: Row) => ${k.ts},`),
    '];',
    'export const types: PgScalar[] = [' + cases.map((k) => JSON.stringify(k.typed.type)).join(', ') + '];',
    '',
  ].join('\n');
}

export interface LoadedModule {
  run(index: number, row: Record<string, unknown>): Outcome;
  /** The module's parent dictionaries (`parents` in the compiled code). */
  parents: Map<string, ReadonlyMap<string, unknown>>;
  dispose(): Promise<void>;
}

/** Compiles the module with the project's esbuild (ESM for Node) and imports it. */
export async function loadModule(source: string): Promise<LoadedModule> {
  const out = await esbuild.transform(source, { loader: 'ts', format: 'esm', target: 'node18' });
  const dir = await mkdtemp(join(tmpdir(), 'ferry-expr-'));
  const file = join(dir, 'cases.mjs');
  await writeFile(file, out.code);
  const mod = (await import(pathToFileURL(file).href)) as {
    cases: Array<(row: Record<string, unknown>) => unknown>;
    types: string[];
    parents: Map<string, ReadonlyMap<string, unknown>>;
    pg: { cast(v: unknown, from: string, to: { type: string }): unknown; Error: new (...a: never[]) => Error };
  };
  return {
    parents: mod.parents,
    run(index, row) {
      try {
        const v = mod.cases[index]!(row);
        return { ok: mod.pg.cast(v, mod.types[index]!, { type: 'text' }) as string | null };
      } catch (e) {
        const sqlstate = (e as { sqlstate?: string }).sqlstate;
        if (!sqlstate) return { error: `THROWN ${(e as Error).name}`, message: (e as Error).message };
        return { error: sqlstate, message: (e as Error).message };
      }
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Same value, or both refused with the same SQLSTATE. */
export function agree(a: Outcome, b: Outcome): boolean {
  if ('ok' in a && 'ok' in b) return a.ok === b.ok;
  if ('error' in a && 'error' in b) return a.error === b.error;
  return false;
}
