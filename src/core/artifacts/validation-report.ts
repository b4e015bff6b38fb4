import * as z from 'zod';
import { ValidationCheckName } from './migration-plan.js';

export const ValidationCheck = z.object({
  name: ValidationCheckName,
  status: z.enum(['pass', 'fail']),
  summary: z.string(),
  /** Offending rows by legacy key, at most a few dozen; `more` counts the rest. */
  problems: z.array(z.object({ legacyKey: z.string().nullable(), message: z.string() })),
  more: z.number().int().nonnegative(),
});
export type ValidationCheck = z.infer<typeof ValidationCheck>;

/**
 * What the app will see (Supabase's Data API roles), per role: information, never a failure.
 * Counted through Postgres, each role impersonated the way the Data API does it.
 */
export const RoleVisibility = z.object({
  role: z.string(),
  /** Migrated rows of this run the role can read; null when the role may not read the table at all. */
  readable: z.number().int().nonnegative().nullable(),
  /** Why readable is null (e.g. "permission denied for table …"). */
  error: z.string().optional(),
  bypassRls: z.boolean(),
  /** Table privileges the role holds (SELECT, INSERT, UPDATE, DELETE), directly or through PUBLIC. */
  grants: z.array(z.string()),
  schemaUsage: z.boolean(),
  /** Policies that apply to this role when it reads (command SELECT or ALL, role named or PUBLIC). */
  policies: z.array(z.object({ name: z.string(), command: z.string(), permissive: z.boolean(), using: z.string().nullable() })),
});
export type RoleVisibility = z.infer<typeof RoleVisibility>;

/** One role read through the Data API (PostgREST) with supabase-js, as the app reads. */
export const DataApiRole = z.object({
  role: z.string(),
  /** The setting whose key or token was sent (SUPABASE_ANON_KEY, SUPABASE_ACCESS_TOKEN, SUPABASE_SERVICE_ROLE_KEY). */
  credential: z.string(),
  /** The token's `sub` (the signed-in user), when it names one. */
  user: z.string().nullable(),
  /** Migrated rows of this run the role read through the Data API; null when the request failed. */
  readable: z.number().int().nonnegative().nullable(),
  /** The Data API's answer when it refused or failed (code and message). */
  error: z.string().optional(),
  /** Count requests sent (HEAD, Prefer: count=exact). */
  requests: z.number().int().nonnegative(),
});
export type DataApiRole = z.infer<typeof DataApiRole>;

/** A value the Data API returned that does not equal the database's, once read back into the column's type. */
export const DataApiDifference = z.object({
  /** The target row's key (and the legacy key it came from). */
  key: z.string(),
  legacyKey: z.string().nullable(),
  column: z.string(),
  type: z.string(),
  /** The value as the app holds it after JSON.parse, as JSON text; null when the column was not returned. */
  api: z.string().nullable(),
  /** The database's value as PostgreSQL prints it. */
  database: z.string().nullable(),
  note: z.string(),
});
export type DataApiDifference = z.infer<typeof DataApiDifference>;

export const DataApiVisibility = z.object({
  /** SUPABASE_URL. */
  url: z.string(),
  client: z.string(),
  /** whole_table: every row of the table is this run's, one unfiltered count per role; by_id: the run's keys in chunks of in.(…). */
  counted: z.enum(['whole_table', 'by_id']),
  roles: z.array(DataApiRole),
  /** Migrated rows fetched by key and compared column by column with the database; null when no role could fetch. */
  sample: z
    .object({
      role: z.string(),
      requested: z.number().int().nonnegative(),
      returned: z.number().int().nonnegative(),
      /** Keys asked for and not returned (reported when the role reads every row, service_role). */
      missing: z.array(z.string()),
      /** At most 40 are listed; `more` counts the rest. */
      differences: z.array(DataApiDifference),
      more: z.number().int().nonnegative(),
      error: z.string().optional(),
    })
    .nullable(),
  warnings: z.array(z.string()),
});
export type DataApiVisibility = z.infer<typeof DataApiVisibility>;

export const AppVisibility = z.object({
  via: z.literal('postgres'),
  table: z.string(),
  /** Rows this run migrated that still exist (the denominator of each role's count). */
  migratedRows: z.number().int().nonnegative(),
  rlsEnabled: z.boolean(),
  rlsForced: z.boolean(),
  /** The user id `authenticated` was given (request.jwt.claims' sub), if any. */
  asUser: z.string().nullable(),
  roles: z.array(RoleVisibility),
  /** A role that reads none or all of the rows: may be intended, worth a look. */
  warnings: z.array(z.string()),
  /** The same, read through the Data API with supabase-js, when SUPABASE_URL and a key are set. */
  dataApi: DataApiVisibility.optional(),
});
export type AppVisibility = z.infer<typeof AppVisibility>;

export const ValidationReport = z.object({
  kind: z.literal('validation_report'),
  version: z.literal(1),
  createdAt: z.string(),
  migrationId: z.number().int(),
  planHash: z.string(),
  status: z.enum(['passed', 'failed']),
  counts: z.object({
    /** Source rows under the plan's filter, read now. */
    source: z.number().int().nonnegative(),
    /** Target rows that exist through this plan's live mappings. */
    migrated: z.number().int().nonnegative(),
    mappings: z.number().int().nonnegative(),
    /** Rows this migration run inserted. */
    insertedByRun: z.number().int().nonnegative(),
    targetTotal: z.number().int().nonnegative(),
  }),
  distributions: z.array(
    z.object({ column: z.string(), values: z.array(z.object({ value: z.string().nullable(), count: z.number().int() })) }),
  ),
  checks: z.array(ValidationCheck),
  /**
   * Migrated rows whose legacy reference has no parent mapping (orphans in the legacy data),
   * by legacy key: what the plan's orphan policy wrote instead (NULL under set_null).
   */
  /** How rows were compared: range checksums in SQL (range_checksum), or re-derived one by one in JavaScript (row_walk). */
  method: z.enum(['range_checksum', 'row_walk']).optional(),
  /** What the range checksums took: segments compared over all levels, rows fetched from differing segments. */
  scan: z
    .object({
      segments: z.number().int().nonnegative(),
      levels: z.number().int().nonnegative(),
      rowsFetched: z.number().int().nonnegative(),
      ms: z.number().nonnegative(),
    })
    .optional(),
  orphans: z
    .array(
      z.object({
        column: z.string(),
        legacyKey: z.string(),
        legacyValue: z.string(),
        written: z.string().nullable(),
        policy: z.enum(['needs_review', 'set_null', 'fail']),
      }),
    )
    .optional(),
  /** Present when the target has Supabase's roles (anon, authenticated, service_role). */
  appVisibility: AppVisibility.optional(),
});
export type ValidationReport = z.infer<typeof ValidationReport>;
