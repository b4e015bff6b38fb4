import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { AppVisibility, RoleVisibility } from '../core/artifacts/validation-report.js';
import { InputError } from '../core/errors.js';
import { planTables } from '../core/plan/tables.js';
import { escapeLiteral } from '../core/pg-escape.js';
import { qualified, quoteIdent, type Queryable } from '../core/sql.js';
import { dataApiVisibility, type DataApiSettings } from './data-api.js';

/** The roles Supabase's Data API (PostgREST) reads as. */
export const SUPABASE_ROLES = ['anon', 'authenticated', 'service_role'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `--as-user` must be a user id as Supabase Auth issues them (a uuid); anything else is refused, not guessed at. */
export function parseAsUser(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  if (!UUID.test(value)) {
    throw new InputError('AS_USER_INVALID', `--as-user must be a user id (a uuid such as 3f6c1a52-9d0e-4b7a-8a51-2f1f0c7d9e44), not "${value}"`, {
      hint: 'copy the id from Supabase Auth (Authentication → Users), or leave --as-user out to read as an authenticated user with no id',
    });
  }
  return value.toLowerCase();
}

/** The JWT claims the Data API sets for a request as this role (what auth.uid() and auth.role() read). */
export function claimsFor(role: string, asUser: string | null): Record<string, string> {
  return role === 'authenticated' && asUser ? { role, sub: asUser, aud: 'authenticated' } : { role };
}

/**
 * What each of Supabase's roles can read of the rows this migration run wrote, read through
 * Postgres the way the Data API does: in a transaction, SET LOCAL ROLE and the JWT claims as
 * transaction settings, count, roll back. Nothing is written. Returns undefined when the
 * target's schema grants nothing to Supabase's roles (a plain PostgreSQL).
 *
 * `db` must not be in a transaction; each role gets its own, rolled back.
 */
export async function appVisibility(input: {
  db: Queryable;
  plan: MigrationPlan;
  migrationId: number;
  /** Every migration of the run (a queued run's ranges); default migrationId alone. */
  migrationIds?: readonly number[];
  asUser?: string | null;
  /** Also read through the Data API with supabase-js (SUPABASE_URL and keys). */
  dataApi?: DataApiSettings | undefined;
}): Promise<AppVisibility | undefined> {
  const { db, plan } = input;
  const asUser = input.asUser ?? null;
  const roles = await supabaseRolesOf(db, plan.target.schema);
  if (roles.length === 0) return undefined;

  const table = qualified(plan.target.schema, plan.target.table);
  const meta = (
    await db.query<TableMeta>(
      `SELECT c.oid::int AS oid, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, format_type(a.atttypid, a.atttypmod) AS pk_type
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2
        WHERE c.oid = $1::regclass`,
      [table, plan.target.primaryKey],
    )
  ).rows[0]!;
  const policies = (
    await db.query<Policy>(
      `SELECT policyname AS name, cmd AS command, permissive, roles::text[] AS roles, qual AS using
         FROM pg_policies WHERE schemaname = $1 AND tablename = $2 ORDER BY policyname`,
      [plan.target.schema, plan.target.table],
    )
  ).rows;
  const runIds = input.migrationIds?.length ? [...input.migrationIds] : [input.migrationId];
  const { migrated, whole, out } = await countEachRole({ db, plan, roles, asUser, table, meta, policies, runIds });
  const dataApi = input.dataApi ? await dataApiVisibility({ settings: input.dataApi, db, postgres: out, target: apiTarget(plan, runIds, await runKeys(db, plan, table, meta, runIds), whole) }) : undefined;
  return {
    via: 'postgres',
    table: `${plan.target.schema}.${plan.target.table}`,
    migratedRows: migrated,
    rlsEnabled: meta.rls,
    rlsForced: meta.forced,
    asUser,
    roles: out,
    warnings: visibilityWarnings(out, migrated, meta.rls),
    ...(dataApi ? { dataApi } : {}),
  };
}

/** The run's rows that still exist, by their keys, in mapping order (the Data API reads them by key). */
async function runKeys(db: Queryable, plan: MigrationPlan, table: string, meta: TableMeta, runIds: number[]): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT m.new_id AS id FROM ferry_control.migration_mappings m JOIN ${table} t ON t.${quoteIdent(plan.target.primaryKey)} = m.new_id::${meta.pk_type}
      WHERE m.migration_id = ANY($1::bigint[]) AND m.target_table = $2 ORDER BY m.migration_id, m.batch_id, m.legacy_id`,
    [runIds, planTables(plan).targetTable],
  );
  return r.rows.map((row) => row.id);
}

/**
 * Each role's count of the run's rows, in one transaction (one snapshot for all roles): the
 * run's keys go into a temporary table on the server, granted to the roles (they cannot read
 * ferry_control), and each role counts inside a savepoint that is rolled back, taking its SET
 * LOCAL ROLE and claims with it. A million keys stay on the server instead of crossing to
 * ferry and back three times as an array parameter. When the run's rows are the whole table,
 * each role counts the table as it is.
 */
async function countEachRole(input: {
  db: Queryable;
  plan: MigrationPlan;
  roles: readonly string[];
  asUser: string | null;
  table: string;
  meta: TableMeta;
  policies: Policy[];
  runIds: number[];
}): Promise<{ migrated: number; whole: boolean; out: RoleVisibility[] }> {
  const { db, plan, table, meta } = input;
  const pk = quoteIdent(plan.target.primaryKey);
  await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const made = await db.query(
      `CREATE TEMP TABLE ${RUN_KEYS} ON COMMIT DROP AS
         SELECT t.${pk} AS k FROM ferry_control.migration_mappings m JOIN ${table} t ON t.${pk} = m.new_id::${meta.pk_type}
          WHERE m.migration_id = ANY($1::bigint[]) AND m.target_table = $2`,
      [input.runIds, planTables(plan).targetTable],
    );
    const migrated = made.rowCount ?? 0;
    const total = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0);
    const whole = total === migrated;
    if (!whole) await db.query(`ANALYZE ${RUN_KEYS}`);
    await db.query(`GRANT SELECT ON ${RUN_KEYS} TO ${input.roles.map(quoteIdent).join(', ')}`);
    const rows = whole ? table : `${table} WHERE ${pk} IN (SELECT k FROM ${RUN_KEYS})`;
    const out: RoleVisibility[] = [];
    for (const role of input.roles) out.push(await roleVisibility({ ...input, role, rows }));
    return { migrated, whole, out };
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
  }
}

/** The run's keys while the roles are counted; gone with the transaction. */
const RUN_KEYS = 'pg_temp.ferry_app_visibility_keys';

/** What the Data API readings need; the table is counted unfiltered when all its rows are this run's (`whole`, from countEachRole). */
function apiTarget(plan: MigrationPlan, migrationIds: number[], ids: string[], whole: boolean) {
  return {
    schema: plan.target.schema,
    table: plan.target.table,
    pk: plan.target.primaryKey,
    ids,
    wholeTable: whole,
    migrationIds,
    targetKey: planTables(plan).targetTable,
  };
}

/** A type alias, not an interface: Queryable's row type needs an index signature. */
type TableMeta = { oid: number; rls: boolean; forced: boolean; pk_type: string };
type Policy = { name: string; command: string; permissive: string; roles: string[]; using: string | null };

/** Supabase's roles that the target schema grants to, in SUPABASE_ROLES order; none on a plain PostgreSQL. */
async function supabaseRolesOf(db: Queryable, schema: string): Promise<Array<(typeof SUPABASE_ROLES)[number]>> {
  // Roles are cluster-wide, grants are not: the target "has Supabase's roles" when its schema
  // grants USAGE to them by name, as Supabase does for every schema the Data API exposes.
  const present = new Set(
    (
      await db.query<{ rolname: string }>(
        `SELECT r.rolname FROM pg_roles r
          WHERE r.rolname = ANY($1::text[])
            AND EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $2 AND a.grantee = r.oid)`,
        [[...SUPABASE_ROLES], schema],
      )
    ).rows.map((r) => r.rolname),
  );
  return SUPABASE_ROLES.filter((r) => present.has(r));
}

/** One role's grants, the SELECT policies that apply to it, and how many of the run's rows it reads. */
async function roleVisibility(input: {
  db: Queryable;
  plan: MigrationPlan;
  role: string;
  asUser: string | null;
  table: string;
  meta: TableMeta;
  /** What to count: the table, or its rows whose key is one of the run's. */
  rows: string;
  policies: Policy[];
}): Promise<RoleVisibility> {
  const { db, plan, role, meta } = input;
  const info = (
    await db.query<{ bypass: boolean; sel: boolean; ins: boolean; upd: boolean; del: boolean; usage: boolean }>(
      `SELECT r.rolbypassrls AS bypass,
              has_table_privilege(r.oid, $2::oid, 'SELECT') AS sel, has_table_privilege(r.oid, $2::oid, 'INSERT') AS ins,
              has_table_privilege(r.oid, $2::oid, 'UPDATE') AS upd, has_table_privilege(r.oid, $2::oid, 'DELETE') AS del,
              has_schema_privilege(r.oid, $3, 'USAGE') AS usage
         FROM pg_roles r WHERE r.rolname = $1`,
      [role, meta.oid, plan.target.schema],
    )
  ).rows[0]!;
  const grants = (['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const).filter((_p, i) => [info.sel, info.ins, info.upd, info.del][i]);
  const applying = input.policies
    .filter((p) => (p.command === 'SELECT' || p.command === 'ALL') && (p.roles.includes(role) || p.roles.includes('public')))
    .map((p) => ({ name: p.name, command: p.command, permissive: p.permissive === 'PERMISSIVE', using: p.using }));
  const counted = await countAs(db, role, claimsFor(role, input.asUser), input.rows);
  return {
    role,
    readable: counted.readable,
    ...(counted.error === undefined ? {} : { error: counted.error }),
    bypassRls: info.bypass,
    grants,
    schemaUsage: info.usage,
    policies: applying,
  };
}

/** Inside the caller's transaction: a savepoint, the role as PostgREST sets it, the count, and back. */
async function countAs(db: Queryable, role: string, claims: Record<string, string>, rows: string): Promise<{ readable: number | null; error?: string }> {
  try {
    // As PostgREST does it: the claims as transaction settings (read by auth.uid(), auth.jwt()), then the role.
    // One round trip for the savepoint and the three (a simple query takes no parameters: the values are quoted as literals).
    const claim = (name: string, value: string) => `set_config(${escapeLiteral(name)}, ${escapeLiteral(value)}, true)`;
    await db.query(
      `SAVEPOINT ferry_count_as; SELECT ${claim('request.jwt.claims', JSON.stringify(claims))}, ${claim('request.jwt.claim.role', role)}, ${claim('request.jwt.claim.sub', claims.sub ?? '')}; SET LOCAL ROLE ${quoteIdent(role)}`,
    );
    const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${rows}`);
    return { readable: Number(r.rows[0]?.n ?? 0) };
  } catch (e) {
    const err = e as { code?: string; message: string };
    // Not allowed to read (no grant, no schema usage) or not allowed to become the role: information, not a failure.
    if (err.code === '42501') return { readable: null, error: err.message };
    throw e;
  } finally {
    // Undoes SET LOCAL ROLE and the claims (and a failed statement's abort) for the next role.
    await db.query('ROLLBACK TO SAVEPOINT ferry_count_as');
  }
}

export function visibilityWarnings(roles: readonly RoleVisibility[], migrated: number, rlsEnabled: boolean): string[] {
  if (migrated === 0) return [];
  const out: string[] = [];
  for (const r of roles) {
    const why = r.error
      ? `it may not read the table (${r.error})`
      : rlsEnabled && !r.bypassRls
        ? r.policies.length
          ? `RLS is on and its policies (${r.policies.map((p) => p.name).join(', ')}) let none through`
          : 'RLS is on and no policy applies to it'
        : 'its grants or RLS allow nothing';
    if (r.readable === null || r.readable === 0) out.push(`${r.role} can read none of the ${migrated} migrated rows: ${why}`);
    // service_role bypasses RLS by design; only the app's own roles seeing everything is worth a look.
    else if (r.readable === migrated && r.role !== 'service_role') {
      const how = !rlsEnabled ? 'RLS is off on the table' : r.bypassRls ? 'the role bypasses RLS' : `its policies (${r.policies.map((p) => p.name).join(', ')}) let every row through`;
      out.push(`${r.role} can read all ${migrated} migrated rows: ${how}`);
    }
  }
  return out;
}
