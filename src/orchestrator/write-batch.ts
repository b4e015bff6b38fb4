import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { contentHash } from '../core/artifacts/hash.js';
import { isSelfReference, viaMappingColumns, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import { insertControl, planTables } from '../control/control-tables.js';
import { qualified } from '../core/sql.js';
import type { OutputRow } from '../../sandbox/types.js';
import { programColumns } from '../core/plan/expected-row.js';
import { CopyLines, CopyValueError, copyErrorLine, copyIn, copyLine, copyLinesAfter } from './copy.js';
import { legacyText, lookupParents, resolveReference } from '../core/plan/references.js';
import { beginWrite } from '../target/timeouts.js';
import { nextTurn, SLICE_ROWS } from './slices.js';

/** A batch that must not be written, or was rolled back: the code, the words, the row when known. */
export class BatchFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly key?: string,
  ) {
    super(message);
  }
}

/** Server gone, connection reset or killed (pg_terminate_backend): nothing more can be written on it. */
export function isConnectionLoss(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  if (!err) return false;
  if (typeof err.code === 'string' && (err.code.startsWith('57P') || err.code.startsWith('08'))) return true;
  return /Connection terminated|connection error|not queryable|ECONNRESET|EPIPE|Client was closed/i.test(err.message ?? '');
}

/** In this order so that a batch's lines share their first four values (see copyLinesAfter). */
const MAPPING_COLUMNS = ['migration_id', 'batch_id', 'source_table', 'target_table', 'legacy_id', 'new_id'];

export interface BatchWriter {
  /**
   * What a batch's write needs that does not touch the database: minted keys and, where no
   * parent has to be looked up in the write's own transaction, the COPY lines. Built while
   * the batch before it still writes, so the target never waits on the orchestrator's CPU.
   * Throws BatchFailure for a value COPY cannot carry, before anything is sent.
   */
  prepare(batchNo: number, rows: readonly OutputRow[]): Promise<PreparedBatch>;
  /**
   * One transaction: the batch's rows (COPY), their mappings (COPY) and the control counters.
   * All or nothing. Returns the rows the database says it inserted. `prepared`: from
   * prepare() for the same rows (made here when left out).
   */
  write(db: pg.Client, batchNo: number, rows: readonly OutputRow[], sent: ReadonlyMap<string, Record<string, unknown>>, prepared?: PreparedBatch): Promise<number>;
}

/** A batch ready to write (see BatchWriter.prepare). */
export interface PreparedBatch {
  readonly batchNo: number;
  readonly rows: readonly OutputRow[];
  /** Each row's key as written (minted or the program's), the mapping's new_id. */
  readonly newIds: unknown[];
  /** The target's COPY lines, or null when they need parents' new ids read in the write's transaction. */
  readonly lines: CopyLines | null;
  /** Without lines: each row's values in column order, the references still to append. */
  readonly values: unknown[][] | null;
  /** The mapping COPY lines, or null when the control row is made in the write's transaction (dry run). */
  readonly mappingLines: CopyLines | null;
}

export function makeBatchWriter(plan: MigrationPlan, migrationId: number, dryRun: boolean): BatchWriter {
  const cols = programColumns(plan).map((c) => c.target);
  const refs = viaMappingColumns(plan);
  const pkMapping = plan.columns.find((c) => c.target === plan.target.primaryKey)!;
  const mintsKey = pkMapping.origin.kind === 'generated_uuid';
  const names = [...(mintsKey ? [plan.target.primaryKey] : []), ...cols, ...refs.map((r) => r.column.target)];
  const table = qualified(plan.target.schema, plan.target.table);
  const { sourceTable, targetTable } = planTables(plan);
  const planHash = contentHash(plan);
  const mappingNames = MAPPING_COLUMNS.map((c) => `migration_mappings.${c}`);
  const mappingLinesOf = (runId: number, batchNo: number, rows: readonly OutputRow[], newIds: unknown[]) => {
    const mappingLine = copyLinesAfter([runId, batchNo, sourceTable, targetTable]);
    return asCopyLines(rows, mappingNames, (r, i) => mappingLine(r.k, newIds[i]));
  };
  /** A row's values in `names` order, without the references (appended once resolved). */
  const valuesOf = (row: OutputRow, newIds: unknown[]): unknown[] => {
    const values: unknown[] = [];
    if (mintsKey) {
      const id = randomUUID();
      newIds.push(id);
      values.push(id);
    } else {
      newIds.push(row.r[plan.target.primaryKey]);
    }
    for (const c of cols) values.push(row.r[c]);
    return values;
  };

  const prepare = async (batchNo: number, rows: readonly OutputRow[]): Promise<PreparedBatch> => {
    // The key as written: the mapping's new_id is the same value through the same escaping.
    const newIds: unknown[] = [];
    const lines = refs.length === 0 ? await asCopyLines(rows, names, (r) => copyLine(valuesOf(r, newIds))) : null;
    const values = lines === null ? rows.map((r) => valuesOf(r, newIds)) : null;
    return { batchNo, rows, newIds, lines, values, mappingLines: dryRun ? null : await mappingLinesOf(migrationId, batchNo, rows, newIds) };
  };

  return {
    prepare,
    async write(db, batchNo, rows, sent, given) {
      const p = given ?? (await prepare(batchNo, rows));
      await beginWrite(db);
      let lines: CopyLines | null = null;
      try {
        // A dry run's mappings need a control row to point at; it goes with the rollback.
        const runId = dryRun ? await insertControl(db, plan, planHash) : migrationId;
        lines = p.lines ?? (await linesWithReferences(db, plan, p, names, sent));
        const inserted = await copyIn(db, table, names, lines);
        await copyIn(db, 'ferry_control.migration_mappings', MAPPING_COLUMNS, p.mappingLines ?? (await mappingLinesOf(runId, batchNo, rows, p.newIds)));
        // The counters and the commit in one round trip (a dry run proves the batch would
        // commit, then takes it back). Both numbers are integers the database gave us.
        await db.query(`${controlUpdateSql(runId, inserted)}; ${dryRun ? 'ROLLBACK' : 'COMMIT'}`);
        return inserted;
      } catch (e) {
        await db.query('ROLLBACK').catch(() => undefined);
        if (e instanceof BatchFailure || isConnectionLoss(e)) throw e;
        const err = e as Error & { constraint?: string; detail?: string };
        const culprit = lines?.length ? await findFailingRow(db, table, names, lines, copyErrorLine(e)) : null;
        const key = culprit === null ? undefined : rows[culprit]!.k;
        throw new BatchFailure(
          'BATCH_WRITE_FAILED',
          `batch ${batchNo} was rolled back${key !== undefined ? `; the row with legacy key ${key} fails` : ` (legacy keys ${rows[0]?.k}…${rows[rows.length - 1]?.k})`}: ${err.message}${err.detail ? ` (${err.detail})` : ''}${err.constraint ? ` [constraint ${err.constraint}]` : ''}`,
          key,
        );
      }
    },
  };
}

/** The control row's counters after a batch: inlined (a simple query can end with COMMIT), so only integers. */
export function controlUpdateSql(runId: number, inserted: number): string {
  if (!Number.isSafeInteger(runId) || !Number.isSafeInteger(inserted)) throw new BatchFailure('CONTROL_COUNTER_INVALID', `the control row's counters must be integers, got run ${runId} and ${inserted} rows`);
  return `UPDATE ferry_control.migration_control SET rows_inserted = rows_inserted + ${inserted}, batches_committed = batches_committed + 1, heartbeat_at = now() WHERE id = ${runId}`;
}

/**
 * The COPY lines of a batch whose rows name parents: their new ids read in the write's own
 * transaction (so a parent cannot go between the read and the write), after each row's values.
 */
async function linesWithReferences(
  db: pg.Client,
  plan: MigrationPlan,
  p: PreparedBatch,
  names: readonly string[],
  sent: ReadonlyMap<string, Record<string, unknown>>,
): Promise<CopyLines> {
  const refValues = await resolveBatchReferences(db, plan, p.rows, sent);
  const values = p.values!;
  return await asCopyLines(p.rows, names, (_r, i) => copyLine([...values[i]!, ...refValues[i]!]));
}

/**
 * The COPY lines of a batch, one per row; a value COPY cannot carry fails the batch before
 * anything is sent, naming the row's legacy key and the column.
 */
async function asCopyLines(rows: readonly OutputRow[], columns: readonly string[], line: (row: OutputRow, i: number) => string): Promise<CopyLines> {
  const lines = new CopyLines();
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % SLICE_ROWS === 0) await nextTurn();
    try {
      lines.push(line(rows[i]!, i));
    } catch (e) {
      if (!(e instanceof CopyValueError)) throw e;
      const key = rows[i]!.k;
      throw new BatchFailure(e.code, `row with legacy key ${key}: column ${columns[e.index] ?? `#${e.index + 1}`}: ${e.message}; ${e.hint}`, key);
    }
  }
  return lines;
}

/**
 * After a failed batch: which row was it? In a transaction rolled back whatever happens, the
 * line the server named is tried alone first; failing that, the batch is bisected with COPY
 * under savepoints (a half that goes in stays, so a row clashing with an earlier row of the
 * same batch is found too): about log2(n) COPYs, not n INSERTs.
 */
async function findFailingRow(db: pg.Client, table: string, names: string[], lines: CopyLines, hint: number | null): Promise<number | null> {
  /** Lines lo ≤ i < hi, copied under a savepoint: whether they went in. */
  const tryCopy = async (lo: number, hi: number): Promise<boolean> => {
    await db.query('SAVEPOINT ferry_probe');
    try {
      await copyIn(db, table, names, lines.bytes(lo, hi));
      await db.query('RELEASE SAVEPOINT ferry_probe');
      return true;
    } catch (e) {
      if (isConnectionLoss(e)) throw e;
      await db.query('ROLLBACK TO SAVEPOINT ferry_probe');
      return false;
    }
  };
  const bisect = async (lo: number, hi: number): Promise<number | null> => {
    if (hi - lo === 1) return (await tryCopy(lo, hi)) ? null : lo;
    if (await tryCopy(lo, hi)) return null;
    const mid = (lo + hi) >> 1;
    return (await bisect(lo, mid)) ?? (await bisect(mid, hi));
  };
  try {
    await db.query('BEGIN');
    if (hint !== null && hint >= 1 && hint <= lines.length) {
      // The rows before it went in (that is what "line N" means), so the hint is tried after them.
      if ((await tryCopy(0, hint - 1)) && !(await tryCopy(hint - 1, hint))) return hint - 1;
      await db.query('ROLLBACK');
      await db.query('BEGIN');
    }
    return await bisect(0, lines.length);
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
  rows: readonly OutputRow[],
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
