/**
 * `npm run bench:validate`: what validating a large migration costs, on an embedded
 * PostgreSQL (two databases on one server), with figures measured here and now:
 *
 *  1. builds 1,000,000 legacy rows and the target rows, mappings and control row a
 *     migration would leave (src/demo/items-case.ts: quoted names, NULLs, unicode,
 *     an enum mapping, a self-reference through the mappings with orphans);
 *  2. validates it by range checksums (the default), median of 3;
 *  3. reference: reading both sides once, `COPY (SELECT …) TO STDOUT` of the source rows
 *     and of the target rows joined through the mappings (what any row-by-row comparison
 *     must at least move), and with `--walk` the old per-row JavaScript walk;
 *  4. plants three differences (one value changed, one target row deleted with its mapping,
 *     one extra row with a mapping) and times finding them, printing what was named.
 *
 * `--rows N` changes the size. Not a test: it asserts nothing, it prints figures.
 */
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { TableInfo } from '../src/core/artifacts/schema-analysis.js';
import type { ValidationReport } from '../src/core/artifacts/validation-report.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { applyTextSettings, compilePlan, quoteLiteral, readColumnTypes } from '../src/validation/plan-sql.js';
import { validateMigration, type ValidationMethod } from '../src/validation/validate.js';
import { buildItemsCase } from '../src/demo/items-case.js';

const args = process.argv.slice(2);
const rowsAt = args.indexOf('--rows');
const ROWS = rowsAt >= 0 ? Number(args[rowsAt + 1]) : 1_000_000;
const WALK = args.includes('--walk');

const say = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const secs = (ms: number) => `${fmt(ms / 1000, 2)} s`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** The target table as validation needs it (column names and types); the rest is not read. */
async function targetTableInfo(db: pg.Client): Promise<TableInfo> {
  const r = await db.query<{ name: string; type: string; ordinal: number; nullable: boolean }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnum AS ordinal, NOT attnotnull AS nullable
       FROM pg_attribute WHERE attrelid = 'public.items_new'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
  );
  return {
    schema: 'public',
    name: 'items_new',
    columns: r.rows.map((c) => ({ name: c.name, ordinal: c.ordinal, pgType: c.type, category: 'other', nullable: c.nullable, default: null, isIdentity: false, isGenerated: false, maxLength: null })),
    primaryKey: ['id'],
    uniqueKeys: [],
    foreignKeys: [],
    rowCount: ROWS,
    rowCountExact: false,
    profiles: [],
    classification: { kind: 'unknown', reasons: [] },
  };
}

/** Bytes of `COPY (query) TO STDOUT`, read and dropped. */
async function copyOut(db: pg.Client, query: string, params: unknown[] = []): Promise<number> {
  let bytes = 0;
  // COPY takes no parameters: inline the ($1, $2) of the source filter / mapping pair.
  const sql = params.reduceRight<string>((q, p, i) => q.replaceAll(`$${i + 1}`, typeof p === 'number' ? String(p) : quoteLiteral(String(p))), query);
  await pipeline(
    db.query(copyTo(`COPY (${sql}) TO STDOUT`)),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb();
      },
    }),
  );
  return bytes;
}

async function main(): Promise<void> {
  say(`ferry validation benchmark: ${fmt(ROWS)} legacy rows, embedded PostgreSQL, Node ${process.version}`);
  const server = await startEmbeddedPostgres();
  const clients: pg.Client[] = [];
  const connect = async (db: string) => {
    const c = new pg.Client({ connectionString: server.url(db) });
    await c.connect();
    clients.push(c);
    return c;
  };
  try {
    await server.createDatabase('legacy');
    await server.createDatabase('app');
    const source = await connect('legacy');
    const target = await connect('app');

    const built = await timed(() => buildItemsCase({ source, target, rows: ROWS, key: 'integer' }));
    const { plan, migrationId, migrated } = built.value;
    say(`built in ${secs(built.ms)}: ${fmt(ROWS)} source rows, ${fmt(migrated)} migrated rows + mappings (INSERT … SELECT in SQL, no sandbox)`);
    const targetTable = await targetTableInfo(target);
    const validate = (method: ValidationMethod = 'range_checksum') => validateMigration({ migrationId, source, target, targetTable, method });

    // 1. Range checksums on the clean migration.
    const runs: Array<{ ms: number; value: ValidationReport }> = [];
    for (let i = 0; i < 3; i++) runs.push(await timed(() => validate()));
    const clean = runs[runs.length - 1]!.value;
    const rangeMs = median(runs.map((r) => r.ms));
    say('');
    say(`range checksums, clean: ${clean.status}, median ${secs(rangeMs)} of ${runs.map((r) => secs(r.ms)).join(', ')}`);
    say(`  rows: source ${fmt(clean.counts.source)}, through mappings ${fmt(clean.counts.migrated)}; ${fmt(clean.orphans?.length ?? 0)} orphans (set_null) named`);
    say(`  diff: ${fmt(clean.scan!.segments)} segments in ${clean.scan!.levels} level(s), ${fmt(clean.scan!.rowsFetched)} rows fetched, ${secs(clean.scan!.ms)} of the total`);

    // 2. Reference: reading both sides once.
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await target.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await applyTextSettings(source);
    await applyTextSettings(target);
    const sql = compilePlan(plan, await readColumnTypes(source, 'public', 'Items'), await readColumnTypes(target, 'public', 'items_new'), { safeCasts: true });
    const copySource = () => copyOut(source, `SELECT ${sql.srcKeyText}, ${sql.columns.map((c) => c.srcExpr).join(', ')} FROM ${sql.source.table} src ${sql.source.where.sql}`, sql.source.where.params);
    const copyTarget = () => copyOut(target, `SELECT m.legacy_id, ${sql.columns.map((c) => c.tgtExpr).join(', ')} ${sql.targetFrom.sql}`, sql.targetFrom.params);
    const srcCopy = await timed(copySource);
    const tgtCopy = await timed(copyTarget);
    const both = await timed(() => Promise.all([copySource(), copyTarget()]));
    await source.query('COMMIT');
    await target.query('COMMIT');
    say('');
    say(`reference, COPY … TO STDOUT of the compared texts: source ${secs(srcCopy.ms)} (${fmt(srcCopy.value / 2 ** 20, 1)} MiB), target through mappings ${secs(tgtCopy.ms)} (${fmt(tgtCopy.value / 2 ** 20, 1)} MiB), both at once ${secs(both.ms)}`);
    say(`  range checksums / both COPYs at once: ${fmt(rangeMs / both.ms, 2)}`);
    if (WALK) {
      const walk = await timed(() => validate('row_walk'));
      say(`row-by-row walk (the old validation): ${walk.value.status}, ${secs(walk.ms)}; range checksums are ${fmt(walk.ms / rangeMs, 1)}× faster`);
    } else {
      say('row-by-row walk (the old validation): not run (pass --walk; it re-derives every row in JavaScript)');
    }

    // 3. Planted differences.
    const pick = async (offset: number) => Number((await target.query<{ k: string }>(`SELECT legacy_id::text AS k FROM items_new ORDER BY legacy_id OFFSET $1 LIMIT 1`, [offset])).rows[0]!.k);
    const changed = await pick(Math.floor(migrated * 0.31));
    let deleted = await pick(Math.floor(migrated * 0.62));
    while ((await target.query(`SELECT 1 FROM items_new c JOIN items_new p ON c.parent_id = p.id WHERE p.legacy_id = $1`, [deleted])).rowCount) deleted += 1;
    const extra = ROWS * 10 + 7;
    await target.query(`UPDATE items_new SET amount = amount + 0.01 WHERE legacy_id = $1`, [changed]);
    await target.query(`DELETE FROM ferry_control.migration_mappings WHERE source_table = 'public.Items' AND legacy_id = $1::text`, [deleted]);
    await target.query(`DELETE FROM items_new WHERE legacy_id = $1`, [deleted]);
    await target.query(`INSERT INTO items_new (id, legacy_id, kind) VALUES ('00000000-0000-4000-8000-00000000beef', $1, 'new')`, [extra]);
    await target.query(
      `INSERT INTO ferry_control.migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id) VALUES ($1, 99, 'public.Items', $2::text, 'public.items_new', '00000000-0000-4000-8000-00000000beef')`,
      [migrationId, extra],
    );
    const found = await timed(() => validate());
    const r = found.value;
    say('');
    say(`planted: value changed at ${changed}, row deleted at ${deleted}, extra row ${extra}`);
    say(`found in ${secs(found.ms)} (${fmt(r.scan!.segments)} segments in ${r.scan!.levels} level(s), ${fmt(r.scan!.rowsFetched)} rows fetched): ${r.status}`);
    for (const c of r.checks.filter((x) => x.status === 'fail')) {
      for (const p of c.problems) say(`  ${c.name}: ${p.legacyKey ?? '-'}: ${p.message}`);
    }
    say('');
    say(`building the migration's rows in plain SQL took ${secs(built.ms)}; validation by range checksums took ${secs(rangeMs)} (${fmt((100 * rangeMs) / built.ms, 1)}% of it)`);
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
    await server.stop();
  }
}

await main();
