import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { canonicalJson, contentHash, sha256 } from '../artifacts/hash.js';
import type { MigrationPlan } from '../artifacts/migration-plan.js';
import type { SandboxRun } from '../artifacts/sandbox-run.js';
import { findEnum, type SchemaAnalysis, type TableInfo } from '../artifacts/schema-analysis.js';
import { ensureControlTables, finishControl, insertControl, mappedLegacyIds, planTables } from '../control/control-tables.js';
import { buildWhere, qualified, quoteIdent } from '../db/sql.js';
import { FerryError, PlanError } from '../errors.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { InputRow, OutputRow, SandboxDriver, SandboxSession } from '../../sandbox/types.js';
import { checkValue, deriveRow, programColumns, sameValue } from '../validation/expected-row.js';
import { isSelfReference, viaMappingColumns } from '../artifacts/migration-plan.js';
import { assertParentsMigrated, legacyText, lookupParents, resolveReference } from './references.js';

export type RunEvent =
  | { type: 'started'; migrationId: number; sourceRows: number; alreadyMapped: number; toMigrate: number; batchSize: number }
  | { type: 'sandbox_started'; driver: 'docker' | 'local' }
  | { type: 'batch_committed'; batch: number; rows: number; inserted: number; toMigrate: number; elapsedMs: number }
  | { type: 'log'; line: string; stream: 'stdout' | 'stderr' }
  /** The second pass over a self-reference: rows whose reference was set, orphans left NULL. */
  | { type: 'self_reference_resolved'; column: string; updated: number; orphans: number }
  | { type: 'finished'; status: 'completed' | 'failed' };

export interface RunInput {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  bundle: { path: string; sha256: string };
  source: pg.Client;
  target: pg.Client;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  onEvent?: (e: RunEvent) => void;
  /**
   * Preview: every batch goes through the sandbox and the row checks, and is written in a
   * transaction that is then rolled back. No migration_control row is kept (migrationId 0).
   */
  dryRun?: boolean;
  /**
   * Replay: send exactly these legacy keys (those a recorded run sent), mapped or not, so
   * the checksum covers the same rows. Only with dryRun; already-mapped rows are not written.
   */
  onlyKeys?: ReadonlySet<string>;
}

/**
 * What a run would write, as checksums: over the checked rows the program returned, in
 * legacy-key order, without the uuids the orchestrator mints (they differ every time), and
 * over the source rows sent. A dry run, a replay and a real run of the same rows and program
 * give the same rowsChecksum.
 */
export interface RunChecksums {
  dryRun: boolean;
  rowsChecksum: string;
  sourceChecksum: string;
  /** Legacy keys sent to the sandbox, in order. */
  keys: string[];
  /**
   * Per key (same order): `<source digest>:<row digest>`, 16 hex characters each, so a replay
   * can name exactly which rows changed, not only that the checksum did.
   */
  digests: string[];
}

/** What every run reports, completed or not. */
interface RunCounts {
  migrationId: number;
  sourceRows: number;
  inserted: number;
  skipped: number;
  batches: number;
  sandbox: SandboxRun | null;
}

export type RunResult = RunChecksums &
  RunCounts &
  (
    | { status: 'completed' }
    | {
        status: 'failed';
        errorCode: string;
        error: string;
        /** The legacy key the failure is about, when there is one. */
        key?: string;
      }
  );

class BatchFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly key?: string,
  ) {
    super(message);
  }
}

/**
 * Runs an approved plan: reads the source in one read-only snapshot, sends each batch
 * through the sandbox, checks every returned row, and writes the batch, its mappings and
 * the control update in one transaction. Only rows with no mapping yet are sent, so a
 * re-run inserts nothing twice. A failed batch leaves nothing behind; the run is recorded
 * `failed` with the error. Expected failures are returned as data.
 */
export async function runMigration(input: RunInput): Promise<RunResult> {
  const { plan, analysis, source, target } = input;
  const emit = input.onEvent ?? (() => {});
  if (plan.status !== 'approved') {
    throw new PlanError('PLAN_NOT_APPROVED', `plan ${plan.id} revision ${plan.revision} is ${plan.status}`, { hint: 'review it and run ferry approve <plan>' });
  }
  const targetTable = analysis.target.tables.find((t) => t.schema === plan.target.schema && t.name === plan.target.table);
  if (!targetTable) throw new PlanError('ANALYSIS_MISMATCH', `the analysis has no target table ${plan.target.schema}.${plan.target.table}`);

  await ensureControlTables(target);
  await assertParentsMigrated(target, plan);
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const lock = await target.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [`ferry:${targetKey}`]);
  if (!lock.rows[0]?.ok) {
    throw new FerryError('MIGRATION_ALREADY_RUNNING', 'user', `another ferry run is writing ${targetKey} right now`, {
      hint: 'wait for it to finish (ferry runs list), then run again: rows it migrated are skipped',
    });
  }
  const dryRun = input.dryRun === true;
  if (input.onlyKeys && !dryRun) throw new PlanError('REPLAY_NEEDS_DRY_RUN', 'a run restricted to recorded keys must be a dry run');
  const planHash = contentHash(plan);
  const migrationId = dryRun ? 0 : await insertControl(target, plan, planHash);
  const rowsHash = createHash('sha256');
  const sourceHash = createHash('sha256');
  const keys: string[] = [];
  const digests: string[] = [];
  const sums = (): RunChecksums => ({ dryRun, rowsChecksum: rowsHash.copy().digest('hex'), sourceChecksum: sourceHash.copy().digest('hex'), keys, digests });
  let sourceRows = 0;
  let inserted = 0;
  let skipped = 0;
  let batches = 0;
  let session: SandboxSession | null = null;
  let sandbox: SandboxRun | null = null;
  const started = Date.now();

  const fail = async (code: string, message: string, key?: string): Promise<RunResult> => {
    // A failure returned from inside the loop (a sandbox error) still holds the source
    // snapshot and its cursor open; the next run on this connection would find them.
    await source.query('ROLLBACK').catch(() => undefined);
    if (session) {
      sandbox = await session.close().catch(() => null);
      session = null;
    }
    if (!dryRun) await finishControl(target, migrationId, { status: 'failed', rowsSource: sourceRows, rowsSkipped: skipped, errorCode: code, error: message, sandbox });
    emit({ type: 'finished', status: 'failed' });
    return { ...sums(), status: 'failed', migrationId, sourceRows, inserted, skipped, batches, sandbox, errorCode: code, error: message, ...(key === undefined ? {} : { key }) };
  };

  try {
    // One consistent, read-only snapshot of the source for the whole run.
    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const where = buildWhere(plan.source.filters);
    const from = `${qualified(plan.source.schema, plan.source.table)} ${where.sql}`;
    const count = await source.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, where.params);
    sourceRows = Number(count.rows[0]?.n ?? 0);
    const cols = plan.source.columns.map(quoteIdent).join(', ');
    await source.query(`DECLARE ferry_source NO SCROLL CURSOR FOR SELECT ${cols} FROM ${from} ORDER BY ${quoteIdent(plan.source.key)}`, where.params);

    const alreadyMapped = await countMapped(target, sourceTable, targetKey);
    emit({ type: 'started', migrationId, sourceRows, alreadyMapped, toMigrate: Math.max(0, sourceRows - alreadyMapped), batchSize: plan.strategy.batchSize });

    const check = makeRowChecker(plan, analysis, targetTable);
    let batchNo = 0;
    for (;;) {
      const fetched = await source.query(`FETCH ${plan.strategy.batchSize} FROM ferry_source`);
      if (fetched.rows.length === 0) break;
      const keyed: InputRow[] = fetched.rows.map((r: Record<string, unknown>) => ({ k: String(r[plan.source.key]), r }));
      const mapped = await mappedLegacyIds(target, sourceTable, targetKey, keyed.map((r) => r.k));
      const only = input.onlyKeys;
      const todo = only ? keyed.filter((r) => only.has(r.k)) : keyed.filter((r) => !mapped.has(r.k));
      skipped += keyed.length - todo.length;
      if (todo.length === 0) continue;
      batchNo += 1;

      if (!session) {
        session = await input.driver.start({
          runId: `m${migrationId}-${randomUUID().slice(0, 8)}`,
          bundle: input.bundle,
          policy: input.policy,
          labels: { 'ferry.migration': String(migrationId), 'ferry.plan': plan.id },
          onLog: (line, stream) => emit({ type: 'log', line, stream }),
        });
        emit({ type: 'sandbox_started', driver: session.driver });
      }
      const outcome = await session.transform(batchNo, todo);
      if (outcome.status === 'error') {
        return await fail(`SANDBOX_${outcome.reason.toUpperCase()}`, `batch ${batchNo}: ${outcome.message}`, outcome.key);
      }
      const rows = check(todo, outcome.rows);
      const byKey = new Map(rows.map((r) => [r.k, r]));
      for (const r of todo) {
        const sourceLine = `${canonicalJson([r.k, r.r])}\n`;
        const rowLine = `${canonicalJson([r.k, byKey.get(r.k)!.r])}\n`;
        keys.push(r.k);
        digests.push(`${sha256(sourceLine).slice(0, 16)}:${sha256(rowLine).slice(0, 16)}`);
        sourceHash.update(sourceLine);
        rowsHash.update(rowLine);
      }
      const toWrite = only ? rows.filter((r) => !mapped.has(r.k)) : rows;
      const sent = new Map(todo.map((r) => [r.k, r.r]));
      // The count is what the database says it inserted, never what the program claims.
      const written = toWrite.length > 0 ? await writeBatch(target, plan, targetTable, migrationId, batchNo, toWrite, sourceTable, targetKey, dryRun, sent) : 0;
      batches += 1;
      inserted += written;
      emit({ type: 'batch_committed', batch: batchNo, rows: rows.length, inserted, toMigrate: Math.max(0, sourceRows - alreadyMapped), elapsedMs: Date.now() - started });
    }
    // A dry run's rows are gone again, so there is nothing for a second pass to point at.
    if (!dryRun) {
      await source.query('CLOSE ferry_source');
      for (const e of await resolveSelfReferences(source, target, plan, targetTable, migrationId, from, where.params)) emit(e);
    }
    await source.query('COMMIT');
    if (session) {
      const s: SandboxSession = session;
      session = null;
      sandbox = await s.close();
      if (sandbox.exitReason !== 'ok') {
        return await fail(`SANDBOX_${sandbox.exitReason.toUpperCase()}`, sandbox.message ?? `the sandbox ended with ${sandbox.exitReason}`);
      }
    }
    if (!dryRun) await finishControl(target, migrationId, { status: 'completed', rowsSource: sourceRows, rowsSkipped: skipped, sandbox });
    emit({ type: 'finished', status: 'completed' });
    return { ...sums(), status: 'completed', migrationId, sourceRows, inserted, skipped, batches, sandbox };
  } catch (e) {
    await source.query('ROLLBACK').catch(() => undefined);
    if (e instanceof BatchFailure) return await fail(e.code, e.message, e.key);
    const err = e as Error & { code?: string };
    const code = e instanceof FerryError ? e.code : 'RUN_FAILED';
    return await fail(code, err.message);
  } finally {
    if (session) await (session as SandboxSession).close().catch(() => undefined);
    await target.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`ferry:${targetKey}`]).catch(() => undefined);
  }
}

async function countMapped(db: pg.Client, sourceTable: string, targetTable: string): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM migration_mappings WHERE source_table = $1 AND target_table = $2', [sourceTable, targetTable]);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Every row the sandbox returns must answer to one row that went in (the session checks
 * keys), fit the target column types, and equal what the plan says for its source row.
 */
function makeRowChecker(plan: MigrationPlan, analysis: SchemaAnalysis, target: TableInfo) {
  const cols = programColumns(plan);
  const expectedNames = new Set(cols.map((c) => c.target));
  return (sent: InputRow[], got: OutputRow[]): OutputRow[] => {
    const byKey = new Map(sent.map((r) => [r.k, r.r]));
    if (got.length !== sent.length) throw new BatchFailure('SANDBOX_PROTOCOL_ERROR', `the program returned ${got.length} rows for ${sent.length}`);
    for (const out of got) {
      const src = byKey.get(out.k);
      if (!src) throw new BatchFailure('SANDBOX_PROTOCOL_ERROR', `the program returned a row for key ${out.k}, which was not sent`, out.k);
      for (const name of Object.keys(out.r)) {
        if (!expectedNames.has(name)) throw new BatchFailure('ROW_UNEXPECTED_COLUMN', `row ${out.k}: the program set ${name}, which the plan does not let it write`, out.k);
      }
      for (const c of cols) {
        const info = target.columns.find((x) => x.name === c.target)!;
        const enumValues = info.enumType ? findEnum(analysis.target, info.enumType)?.values : undefined;
        const problem = checkValue(info, out.r[c.target], enumValues);
        if (problem) throw new BatchFailure('ROW_INVALID', `row with legacy key ${out.k}: ${problem}`, out.k);
      }
      const expected = deriveRow(plan, target, src);
      if (!expected.ok) throw new BatchFailure('ROW_NOT_DERIVABLE', `row with legacy key ${out.k}: ${expected.column}: ${expected.message}`, out.k);
      for (const c of cols) {
        // A model-written function's column passed checkValue above; nothing here can re-derive it.
        if (c.origin.kind === 'transform') continue;
        if (!sameValue(expected.row[c.target], out.r[c.target])) {
          throw new BatchFailure(
            'ROW_MISMATCH',
            `row with legacy key ${out.k}: ${c.target} is ${JSON.stringify(out.r[c.target])}, the plan says ${JSON.stringify(expected.row[c.target])}`,
            out.k,
          );
        }
      }
    }
    return got;
  };
}

/** INSERT … VALUES for `n` rows of `types`, every value a parameter cast to its column type. */
export function insertSql(table: string, names: string[], types: string[], n: number): string {
  const tuples: string[] = [];
  for (let r = 0; r < n; r++) {
    tuples.push(`(${types.map((t, i) => `$${r * types.length + i + 1}::${t}`).join(', ')})`);
  }
  return `INSERT INTO ${table} (${names.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')}`;
}

/** One transaction: the batch's rows, their mappings, the control counters. All or nothing. */
async function writeBatch(
  db: pg.Client,
  plan: MigrationPlan,
  target: TableInfo,
  migrationId: number,
  batchNo: number,
  rows: OutputRow[],
  sourceTable: string,
  targetTable: string,
  dryRun = false,
  /** The source rows sent, by legacy key: where via_mapping columns read their legacy values. */
  sent: ReadonlyMap<string, Record<string, unknown>> = new Map(),
): Promise<number> {
  const cols = programColumns(plan);
  const refs = viaMappingColumns(plan);
  const pkMapping = plan.columns.find((c) => c.target === plan.target.primaryKey)!;
  const mintsKey = pkMapping.origin.kind === 'generated_uuid';
  const names = [...(mintsKey ? [plan.target.primaryKey] : []), ...cols.map((c) => c.target), ...refs.map((r) => r.column.target)];
  const types = names.map((n) => target.columns.find((c) => c.name === n)!.pgType);
  const table = qualified(plan.target.schema, plan.target.table);
  const newIds: string[] = [];
  const tuples: unknown[][] = rows.map((row) => {
    const values: unknown[] = [];
    if (mintsKey) {
      const id = randomUUID();
      newIds.push(id);
      values.push(id);
    } else {
      newIds.push(String(row.r[plan.target.primaryKey]));
    }
    for (const c of cols) {
      const v = row.r[c.target];
      values.push(v !== null && typeof v === 'object' ? JSON.stringify(v) : v);
    }
    return values;
  });
  // Stay well under PostgreSQL's 65535 parameters per statement.
  const perStatement = Math.max(1, Math.floor(30000 / names.length));

  await db.query('BEGIN');
  try {
    // A dry run's mappings need a control row to point at; it goes with the rollback.
    const runId = dryRun ? await insertControl(db, plan, contentHash(plan)) : migrationId;
    // Parents' new ids, read in the transaction that writes the rows naming them.
    const refValues = await resolveBatchReferences(db, plan, rows, sent);
    tuples.forEach((t, i) => t.push(...refValues[i]!));
    let inserted = 0;
    for (let i = 0; i < tuples.length; i += perStatement) {
      const chunk = tuples.slice(i, i + perStatement);
      inserted += (await db.query(insertSql(table, names, types, chunk.length), chunk.flat())).rowCount ?? 0;
    }
    await db.query(
      `INSERT INTO migration_mappings (migration_id, batch_id, source_table, legacy_id, target_table, new_id)
       SELECT $1, $2, $3, k, $4, n FROM unnest($5::text[], $6::text[]) AS u(k, n)`,
      [runId, batchNo, sourceTable, targetTable, rows.map((r) => r.k), newIds],
    );
    await db.query(
      `UPDATE migration_control SET rows_inserted = rows_inserted + $2, batches_committed = batches_committed + 1, heartbeat_at = now() WHERE id = $1`,
      [runId, inserted],
    );
    // A dry run proves the batch would commit (constraints, types), then takes it back.
    await db.query(dryRun ? 'ROLLBACK' : 'COMMIT');
    return inserted;
  } catch (e) {
    await db.query('ROLLBACK').catch(() => undefined);
    if (e instanceof BatchFailure) throw e;
    const err = e as Error & { constraint?: string; detail?: string };
    const culprit = await findFailingRow(db, insertSql(table, names, types, 1), tuples, rows);
    throw new BatchFailure(
      'BATCH_WRITE_FAILED',
      `batch ${batchNo} was rolled back${culprit ? `; the row with legacy key ${culprit} fails` : ` (legacy keys ${rows[0]?.k}…${rows[rows.length - 1]?.k})`}: ${err.message}${err.detail ? ` (${err.detail})` : ''}${err.constraint ? ` [constraint ${err.constraint}]` : ''}`,
      culprit ?? undefined,
    );
  }
}

/**
 * After a failed batch: which row was it? Each row is tried under a savepoint in a
 * transaction that is rolled back whatever happens, so nothing is written.
 */
async function findFailingRow(db: pg.Client, oneRowSql: string, tuples: unknown[][], rows: OutputRow[]): Promise<string | null> {
  try {
    await db.query('BEGIN');
    for (let i = 0; i < tuples.length; i++) {
      await db.query('SAVEPOINT ferry_probe');
      try {
        await db.query(oneRowSql, tuples[i]);
        await db.query('RELEASE SAVEPOINT ferry_probe');
      } catch {
        return rows[i]!.k;
      }
    }
    return null;
  } catch {
    return null;
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * The via_mapping values of a batch, per row in the order of `rows`: the parent's new id for
 * the legacy value, or NULL (legacy NULL, an orphan under set_null, or a self-reference that
 * the second pass sets). An orphan under `fail` fails the batch, naming its legacy key.
 */
async function resolveBatchReferences(
  db: pg.Client,
  plan: MigrationPlan,
  rows: OutputRow[],
  sent: ReadonlyMap<string, Record<string, unknown>>,
): Promise<unknown[][]> {
  const out: unknown[][] = rows.map(() => []);
  for (const { column, origin } of viaMappingColumns(plan)) {
    if (isSelfReference(plan, origin)) {
      for (const o of out) o.push(null);
      continue;
    }
    const legacy = rows.map((r) => {
      const src = sent.get(r.k);
      if (!src) throw new BatchFailure('SANDBOX_PROTOCOL_ERROR', `row ${r.k}: no source row to read ${origin.source} from`, r.k);
      return legacyText(src[origin.source]);
    });
    const found = await lookupParents(db, origin, legacy.filter((v): v is string => v !== null));
    rows.forEach((r, i) => {
      const res = resolveReference(plan, column.target, origin, r.k, legacy[i] ?? null, found);
      if (!res.ok) throw new BatchFailure('FK_ORPHAN', res.message, r.k);
      out[i]!.push(res.value);
    });
  }
  return out;
}

/**
 * Self-references (employees.reports_to) in a second pass: the first pass wrote them NULL,
 * because a row's parent may come in a later batch, or later in the same one. Now every row
 * of the run has its new id, so one transaction sets each reference through the mappings.
 * It walks every source row under the filter in the run's snapshot, not only this run's, so
 * a run resumed after a failure finishes what the earlier one left NULL; rows already right
 * are not touched. Chosen over ordering rows parents-first (a recursive CTE) because that
 * needs no change to the key-ordered cursor that re-runs rely on, handles any depth and even
 * cycles in the data, and keeps a batch independent of the others.
 */
async function resolveSelfReferences(
  source: pg.Client,
  db: pg.Client,
  plan: MigrationPlan,
  targetTable: TableInfo,
  migrationId: number,
  from: string,
  params: unknown[],
): Promise<RunEvent[]> {
  const selfRefs = viaMappingColumns(plan).filter((r) => isSelfReference(plan, r.origin));
  if (selfRefs.length === 0) return [];
  const { sourceTable, targetTable: targetKey } = planTables(plan);
  const pk = plan.target.primaryKey;
  const pkType = targetTable.columns.find((c) => c.name === pk)!.pgType;
  const table = qualified(plan.target.schema, plan.target.table);
  const events: RunEvent[] = [];
  await db.query('BEGIN');
  try {
    for (const { column, origin } of selfRefs) {
      const colType = targetTable.columns.find((c) => c.name === column.target)!.pgType;
      await source.query(`DECLARE ferry_self NO SCROLL CURSOR FOR SELECT ${quoteIdent(plan.source.key)}::text AS k, ${quoteIdent(origin.source)} AS v FROM ${from}`, params);
      let updated = 0;
      let orphans = 0;
      for (;;) {
        const chunk = await source.query<{ k: string; v: unknown }>('FETCH 1000 FROM ferry_self');
        if (chunk.rows.length === 0) break;
        const withRef = chunk.rows.filter((r) => r.v !== null);
        if (withRef.length === 0) continue;
        const children = await db.query<{ legacy_id: string; new_id: string }>(
          'SELECT legacy_id, new_id FROM migration_mappings WHERE source_table = $1 AND target_table = $2 AND legacy_id = ANY($3::text[])',
          [sourceTable, targetKey, withRef.map((r) => r.k)],
        );
        const childIds = new Map(children.rows.map((c) => [c.legacy_id, c.new_id]));
        const parents = await lookupParents(db, origin, withRef.map((r) => legacyText(r.v)!));
        const ids: string[] = [];
        const values: Array<string | null> = [];
        for (const r of withRef) {
          const child = childIds.get(r.k);
          if (child === undefined) continue; // not migrated (a failed batch): nothing to point from
          const res = resolveReference(plan, column.target, origin, r.k, legacyText(r.v), parents);
          if (!res.ok) throw new BatchFailure('FK_ORPHAN', res.message, r.k);
          if (res.orphan) orphans += 1;
          ids.push(child);
          values.push(res.value);
        }
        if (ids.length === 0) continue;
        const col = quoteIdent(column.target);
        const u = await db.query(
          `UPDATE ${table} t SET ${col} = u.p::${colType} FROM unnest($1::text[], $2::text[]) AS u(c, p)
            WHERE t.${quoteIdent(pk)} = u.c::${pkType} AND t.${col} IS DISTINCT FROM u.p::${colType}`,
          [ids, values],
        );
        updated += u.rowCount ?? 0;
      }
      await source.query('CLOSE ferry_self');
      events.push({ type: 'self_reference_resolved', column: column.target, updated, orphans });
    }
    await db.query('UPDATE migration_control SET heartbeat_at = now() WHERE id = $1', [migrationId]);
    await db.query('COMMIT');
  } catch (e) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return events;
}
