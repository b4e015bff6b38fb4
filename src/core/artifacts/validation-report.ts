import { z } from 'zod';
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
});
export type ValidationReport = z.infer<typeof ValidationReport>;
