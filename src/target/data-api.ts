import type { DataApiDifference, DataApiRole, DataApiVisibility, RoleVisibility } from '../core/artifacts/validation-report.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { credentialsOf, DATA_API_CLIENT, KEY_FILTER_BUDGET, SAMPLE_ROWS, type Credential, type DataApiSettings } from './data-api-settings.js';

export * from './data-api-settings.js';

/**
 * Reading the run's rows through Supabase's Data API (PostgREST) with supabase-js, as the app
 * does: per role, an exact count of the migrated rows it can read, and a sample of rows fetched
 * by key and compared with the database. Read-only; failures are data in the report.
 */

const MAX_DIFFERENCES = 40;

/** The subset of supabase-js's query builder ferry uses. */
interface ApiResult {
  data: unknown;
  error: { message?: string; code?: string; details?: string | null } | null;
  count: number | null;
  status: number;
  statusText: string;
}
interface ApiFilter extends PromiseLike<ApiResult> {
  in(column: string, values: readonly string[]): ApiFilter;
  limit(n: number): ApiFilter;
}
interface ApiTable {
  select(columns: string, options?: { count?: 'exact'; head?: boolean }): ApiFilter;
}
type ApiClient = { from(table: string): ApiTable };

/** Realtime is never used; supabase-js builds its client eagerly and Node 20 has no global WebSocket. */
class NoRealtime {
  constructor() {
    throw new Error('ferry does not use Supabase Realtime');
  }
}

/** supabase-js is loaded on first use: commands that never read through the Data API (--help, show) do not pay for it. */
async function clientFor(s: DataApiSettings, c: Credential, schema: string): Promise<ApiClient> {
  const { createClient } = await import('@supabase/supabase-js');
  const client = createClient(s.url, c.apikey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    accessToken: async () => c.bearer,
    realtime: { transport: NoRealtime as never },
  });
  return client.schema(schema) as unknown as ApiClient;
}

/** Keys in groups whose in.(…) filter stays under `budget` characters once URL-encoded. */
export function chunkKeys(keys: readonly string[], budget = KEY_FILTER_BUDGET): string[][] {
  const out: string[][] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const k of keys) {
    // postgrest-js quotes a value holding , ( ) or a quote: count the quotes too; %2C between keys.
    const len = encodeURIComponent(/[,()"\\:]/.test(k) ? `"${k}"` : k).length + 3;
    if (chunk.length && size + len > budget) {
      out.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(k);
    size += len;
  }
  if (chunk.length) out.push(chunk);
  return out;
}

function describeError(r: ApiResult): string {
  if (r.status === 0) {
    // supabase-js puts the network cause (ECONNREFUSED, a certificate error) in details.
    const cause = /Caused by: (.+)/.exec(r.error?.details ?? '')?.[1];
    return `no answer: ${r.error?.message ?? 'the request failed'}${cause ? ` (${cause})` : ''}`;
  }
  const what = [r.error?.code, r.error?.message].filter((x) => x).join(' ');
  return `HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}${what ? `: ${what}` : ''}`;
}

async function settle(q: PromiseLike<ApiResult>): Promise<ApiResult> {
  try {
    return await q;
  } catch (e) {
    return { data: null, error: { message: (e as Error).message }, count: null, status: 0, statusText: 'no answer' };
  }
}

/** Target facts the Data API readings need, found by appVisibility through Postgres. */
export interface ApiTarget {
  schema: string;
  table: string;
  pk: string;
  /** The run's rows that still exist, by key, in the order they were written. */
  ids: readonly string[];
  /** Every row of the table is one of this run's: counted without a filter. */
  wholeTable: boolean;
  /** The run's migrations (a queued run's ranges: several) and target_table, to name rows by legacy key. */
  migrationIds: readonly number[];
  targetKey: string;
}

/** Count requests in flight at once per role: a long run's keys take many requests; a project's API is shared with its app. */
export const COUNTS_IN_FLIGHT = 4;

/** The exact count of the run's rows `client` reads: HEAD with Prefer: count=exact, as the app asks. */
async function countThrough(client: ApiClient, t: ApiTarget): Promise<{ readable: number | null; requests: number; error?: string }> {
  const head = () => client.from(t.table).select('*', { count: 'exact', head: true });
  const chunks = t.wholeTable ? [null] : chunkKeys(t.ids);
  let readable = 0;
  let requests = 0;
  for (let i = 0; i < chunks.length; i += COUNTS_IN_FLIGHT) {
    const window = chunks.slice(i, i + COUNTS_IN_FLIGHT);
    const answers = await Promise.all(window.map((chunk) => settle(chunk ? head().in(t.pk, chunk) : head())));
    requests += answers.length;
    const failed = answers.find((r) => r.status === 0 || r.error || r.count === null);
    if (failed?.status === 0) return { readable: null, requests, error: describeError(failed) };
    if (failed) {
      // A HEAD answer has no body: ask once more with GET for PostgREST's message.
      const probe = await settle(client.from(t.table).select(t.pk).limit(1));
      return { readable: null, requests, error: describeError(probe.error ? probe : failed) };
    }
    readable += answers.reduce((n, r) => n + (r.count ?? 0), 0);
  }
  return { readable, requests };
}

/** Evenly spread keys of the run's rows, at most SAMPLE_ROWS. */
export function sampleKeys(ids: readonly string[], n = SAMPLE_ROWS): string[] {
  if (ids.length <= n) return [...ids];
  return Array.from({ length: n }, (_v, i) => ids[Math.floor((i * ids.length) / n)]!);
}

/**
 * What each role with a key reads of the run's rows through the Data API, beside what it reads
 * through Postgres (`postgres`), and a sample of rows compared with the database.
 */
export async function dataApiVisibility(input: { settings: DataApiSettings; db: Queryable; target: ApiTarget; postgres: readonly RoleVisibility[] }): Promise<DataApiVisibility> {
  const { settings, target } = input;
  const { credentials, warnings } = credentialsOf(settings);
  const roles: DataApiRole[] = [];
  for (const c of credentials) {
    // A server that did not answer one role (after supabase-js's own retries) is not asked again.
    const down = roles.find((r) => r.error?.startsWith('no answer'));
    const counted = down ? { readable: null, requests: 0, error: down.error! } : await countThrough(await clientFor(settings, c, target.schema), target);
    roles.push({ role: c.role, credential: c.credential, user: c.user, ...counted });
  }
  const unreachable = roles.find((r) => r.error?.startsWith('no answer'));
  if (unreachable) {
    warnings.push(`the Data API at ${settings.url} did not answer: ${unreachable.error!.replace(/^no answer: /, '')}; the counts above, through Postgres, stand`);
    return { url: settings.url, client: DATA_API_CLIENT, counted: target.wholeTable ? 'whole_table' : 'by_id', roles, sample: null, warnings };
  }
  warnings.push(...countWarnings(roles, input.postgres, target.ids.length));
  // The widest reader fetches the sample: service_role sees every row, so a missing one is news.
  const reader = ['service_role', 'authenticated', 'anon'].map((r) => credentials.find((c) => c.role === r)).find((c) => c !== undefined);
  const sample = reader ? await fetchAndCompare(input.db, await clientFor(settings, reader, target.schema), reader.role, target) : null;
  if (sample?.error) warnings.push(`the sample could not be fetched as ${sample.role}: ${sample.error}`);
  if (sample && sample.missing.length && sample.role === 'service_role') {
    warnings.push(`service_role did not get ${sample.missing.length} of the ${sample.requested} sampled row(s) asked for by key (first: ${sample.missing[0]})`);
  }
  if (sample?.differences.length) {
    const cols = [...new Set(sample.differences.map((d) => d.column))];
    warnings.push(`${sample.differences.length + sample.more} value(s) of the sample read through the Data API differ from the database (column ${cols.join(', ')}): the app does not get what was migrated`);
  }
  return { url: settings.url, client: DATA_API_CLIENT, counted: target.wholeTable ? 'whole_table' : 'by_id', roles, sample, warnings };
}

function countWarnings(roles: readonly DataApiRole[], postgres: readonly RoleVisibility[], migrated: number): string[] {
  const out: string[] = [];
  for (const r of roles) {
    if (r.error) {
      out.push(`${r.role} could not count through the Data API: ${r.error}`);
      continue;
    }
    const pg = postgres.find((p) => p.role === r.role);
    if (pg && pg.readable !== null && pg.readable !== r.readable) {
      const why = r.role === 'authenticated' ? 'the access token\'s user and --as-user may differ, or ' : '';
      out.push(`${r.role} reads ${r.readable}/${migrated} through the Data API but ${pg.readable}/${migrated} through Postgres: ${why}the Data API may not expose the schema, or its role settings differ`);
    }
  }
  return out;
}

/** A type alias, not an interface: Queryable's row type needs an index signature. */
type Column = { name: string; type: string };

type Sample = NonNullable<DataApiVisibility['sample']>;

/** Types whose JSON encoding can change a value: numbers beyond JavaScript's digits, json holding them, timestamps. */
const RISKY_TYPE = /^(numeric|decimal|bigint|double precision|real|money|jsonb?|timestamp|date)/;

async function tableColumns(db: Queryable, table: string): Promise<Column[]> {
  return (
    await db.query<{ name: string; type: string }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [table],
    )
  ).rows;
}

/**
 * Beside the evenly spread rows, the run's rows most likely to come back different: per column
 * of a risky type, the 3 whose value is longest as text (the most digits, the deepest json).
 */
async function extremeKeys(db: Queryable, t: ApiTarget, columns: readonly Column[]): Promise<string[]> {
  const table = qualified(t.schema, t.table);
  const pk = quoteIdent(t.pk);
  const out: string[] = [];
  for (const c of columns.filter((x) => RISKY_TYPE.test(x.type) && x.name !== t.pk)) {
    const r = await db.query<{ k: string }>(
      `SELECT s.${pk}::text AS k FROM ${table} s
         JOIN ferry_control.migration_mappings m ON m.migration_id = ANY($1::bigint[]) AND m.target_table = $2 AND m.new_id = s.${pk}::text
        WHERE s.${quoteIdent(c.name)} IS NOT NULL ORDER BY length(s.${quoteIdent(c.name)}::text) DESC LIMIT 3`,
      [[...t.migrationIds], t.targetKey],
    );
    out.push(...r.rows.map((x) => x.k));
  }
  return out;
}

async function fetchAndCompare(db: Queryable, client: ApiClient, role: string, t: ApiTarget): Promise<Sample> {
  const columns = await tableColumns(db, qualified(t.schema, t.table));
  const requested = [...new Set([...sampleKeys(t.ids), ...(await extremeKeys(db, t, columns))])];
  const rows: Array<Record<string, unknown>> = [];
  for (const chunk of chunkKeys(requested)) {
    const r = await settle(client.from(t.table).select('*').in(t.pk, chunk));
    if (r.error || !Array.isArray(r.data)) return { role, requested: requested.length, returned: rows.length, missing: [], differences: [], more: 0, error: describeError(r) };
    rows.push(...(r.data as Array<Record<string, unknown>>));
  }
  let compared: Awaited<ReturnType<typeof compareRows>>;
  try {
    compared = await compareRows(db, t, columns, rows);
  } catch (e) {
    const error = `the Data API's rows could not be read back into ${t.schema}.${t.table}'s column types: ${(e as Error).message}`;
    return { role, requested: requested.length, returned: rows.length, missing: [], differences: [], more: 0, error };
  }
  const { differences, more, matched } = compared;
  return { role, requested: requested.length, returned: rows.length, missing: requested.filter((k) => !matched.has(k)), differences, more };
}

/**
 * The API's rows, as the app holds them after JSON.parse, read back into the table's own row
 * type (jsonb_populate_recordset, as PostgREST reads a body) and compared with the stored row
 * column by column as jsonb: 1.5 equals 1.50, a timestamp equals its ISO form, a number that
 * lost digits in JavaScript does not.
 */
export async function compareRows(
  db: Queryable,
  t: ApiTarget,
  columns: readonly Column[],
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<{ differences: DataApiDifference[]; more: number; matched: Set<string> }> {
  const table = qualified(t.schema, t.table);
  const pk = quoteIdent(t.pk);
  const list = columns.map((c, i) => `to_jsonb(a.${quoteIdent(c.name)}) IS NOT DISTINCT FROM to_jsonb(s.${quoteIdent(c.name)}) AS eq${i}, s.${quoteIdent(c.name)}::text AS db${i}`).join(', ');
  const result = await db.query<Record<string, unknown>>(
    `SELECT a.${pk}::text AS key, m.legacy_id, ${list}
       FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb) WITH ORDINALITY AS a
       JOIN ${table} s ON s.${pk} = a.${pk}
       LEFT JOIN ferry_control.migration_mappings m ON m.migration_id = ANY($2::bigint[]) AND m.target_table = $3 AND m.new_id = s.${pk}::text
      ORDER BY a.ordinality`,
    [JSON.stringify(rows), [...t.migrationIds], t.targetKey],
  );
  const byKey = new Map(rows.map((r) => [String(r[t.pk]), r]));
  const differences: DataApiDifference[] = [];
  let more = 0;
  const matched = new Set<string>();
  for (const row of result.rows) {
    const key = String(row.key);
    matched.add(key);
    const api = byKey.get(key) ?? rows.find((r) => String(r[t.pk]).toLowerCase() === key);
    columns.forEach((c, i) => {
      const returned = api !== undefined && Object.prototype.hasOwnProperty.call(api, c.name);
      if (row[`eq${i}`] === true && returned) return;
      if (differences.length >= MAX_DIFFERENCES) {
        more++;
        return;
      }
      differences.push({
        key,
        legacyKey: (row.legacy_id as string | null) ?? null,
        column: c.name,
        type: c.type,
        api: returned ? JSON.stringify(api![c.name]) : null,
        database: (row[`db${i}`] as string | null) ?? null,
        note: returned ? differenceNote(c.type) : 'not returned by the Data API (a column privilege, or a view in front of the table?)',
      });
    });
  }
  return { differences, more, matched };
}

/** Why a value of this type may come back different through JSON. */
export function differenceNote(type: string): string {
  if (/^(numeric|decimal|bigint|double precision|real|money)/.test(type)) {
    return `PostgREST sends ${type} as a JSON number and JavaScript keeps about 15–17 significant digits: read it as text (a view or generated column with ::text) where every digit matters`;
  }
  if (/^jsonb?$/.test(type)) return 'the JSON value differs once parsed by JavaScript (a number inside it lost digits?)';
  if (/^timestamp|^date|^time/.test(type)) return `the ${type} value read back from the Data API's text is another instant`;
  return `the value read back into ${type} differs from the stored one`;
}
