import * as z from 'zod';
import { ColumnExpression, Expr } from './column-expression.js';
import { ArtifactGenerator } from './generator.js';
import { contentHash } from './hash.js';
import { FilterCondition, type SchemaAnalysis } from './schema-analysis.js';
import { escapeValueGlob } from '../glob.js';
import { DescriptionReading, readingReviewSpans } from './description-reading.js';
import { exprKey, ReadingComparison } from './reading-comparison.js';

const JsonScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** Where a target column's value comes from. Every target column has exactly one origin. */
export const ColumnOrigin = z.discriminatedUnion('kind', [
  /** The source column's value as it is (types already agree). */
  z.object({ kind: z.literal('copy'), source: z.string() }),
  /** The source column's value converted to the target's category (e.g. integer → text). */
  z.object({ kind: z.literal('cast'), source: z.string(), to: z.string() }),
  /** The same value for every row. */
  z.object({ kind: z.literal('constant'), value: JsonScalar }),
  /** A fresh uuid minted by the orchestrator at write time; it becomes the mapping's new id. */
  z.object({ kind: z.literal('generated_uuid') }),
  /** Looked up per distinct source value in the plan's enum mapping for this target column. */
  z.object({ kind: z.literal('enum_map'), source: z.string() }),
  /** Decided by the plan's foreign-key decision for this target column. */
  z.object({ kind: z.literal('foreign_key') }),
  /**
   * The legacy FK value in `source`, replaced by the orchestrator with the new id its parent
   * row got in an earlier (or this) migration: migration_mappings where source_table =
   * parent.sourceTable, target_table = parent.targetTable, legacy_id = the value. The program
   * never sees the mappings, so it does not own this column.
   */
  z.object({
    kind: z.literal('via_mapping'),
    source: z.string(),
    parent: z.object({
      /** Qualified names, as migration_mappings records them (`public.employees`). */
      sourceTable: z.string(),
      targetTable: z.string(),
      /** The target column the FK references (the parent's primary key, whose values are the mappings' new ids). */
      refColumn: z.string(),
      /** The parent's plan, when it was planned together with this one (a plan set). */
      planId: z.string().optional(),
    }),
    /**
     * A legacy value with no parent mapping (an orphan): needs_review blocks the plan until
     * a person decides; set_null writes NULL (only where the target column is nullable);
     * fail stops the run naming the orphan's legacy id.
     */
    onOrphan: z.enum(['needs_review', 'set_null', 'fail']),
  }),
  /**
   * What the fixed vocabulary cannot say ("full name is first + last", splitting "Last, First"):
   * the reviewer approves the description; the Code Interpreter has a model write the function
   * from `sources` to this column, type-checked against the row types, run only in the sandbox.
   * It is not re-derived outside the sandbox: rows are checked by type and nullability only.
   */
  z.object({ kind: z.literal('transform'), sources: z.array(z.string()).min(1), description: z.string().min(1) }),
  /**
   * A derivation in the column language (src/core/expr): `first_name || ' ' || last_name`,
   * `hire_date::date`, `media_type.name`. The sandbox runs it compiled to TypeScript and
   * validation re-derives every row from the same tree compiled to SQL, so unlike a transform
   * it is checked value by value.
   */
  z.object({
    kind: z.literal('expression'),
    /** As written (by a reviewer, a rule or a model). */
    text: z.string().min(1),
    /** The checked tree: every node typed, every parent path resolved to its foreign-key hops. */
    expr: Expr,
    /** What it reads: source columns by name, parent columns as `path.column` (`media_type.name`). */
    reads: z.array(z.string()),
    /** Its values are looked up in the plan's enum mapping for this column (keyed on `text`). */
    enumMapped: z.boolean().optional(),
  }),
  /** Not written: the database default (or NULL) applies. */
  z.object({ kind: z.literal('default') }),
]);
export type ColumnOrigin = z.infer<typeof ColumnOrigin>;

export const MappingStatus = z.enum(['mapped', 'needs_review', 'overridden']);
export type MappingStatus = z.infer<typeof MappingStatus>;

export const ColumnMapping = z.object({
  target: z.string(),
  targetType: z.string(),
  origin: ColumnOrigin,
  reason: z.string(),
  confidence: z.number().min(0).max(1),
  /** needs_review: no origin could be decided for a column the target requires. */
  status: MappingStatus,
  /** Whether the target column allows NULL, where a decision left to a person depends on it (orphans: set_null). */
  targetNullable: z.boolean().optional(),
});
export type ColumnMapping = z.infer<typeof ColumnMapping>;

export const RuleMatch = z.object({
  target: z.string(),
  /** Stable id of the rule kind: exact, word, synonym, learned_abbreviation, prefix_code, override. */
  rule: z.string(),
  /** What matched, in words: `token "MT" (prefix code learned from "Manufacturing Technician")`. */
  detail: z.string(),
  confidence: z.number().min(0).max(1),
});
export type RuleMatch = z.infer<typeof RuleMatch>;

export const EnumValueMapping = z.object({
  source: z.string().nullable(),
  /** Source rows carrying this value, under the filter. */
  count: z.number().int().nonnegative(),
  /** Null while the value needs review. */
  target: z.string().nullable(),
  rule: z.string().nullable(),
  detail: z.string(),
  confidence: z.number().min(0).max(1),
  status: MappingStatus,
  /** Other rules that matched, with what they proposed: the evidence a reviewer sees. */
  alternatives: z.array(RuleMatch),
});
export type EnumValueMapping = z.infer<typeof EnumValueMapping>;

export const EnumMapping = z.object({
  targetColumn: z.string(),
  enumType: z.string(),
  enumValues: z.array(z.string()),
  sourceColumn: z.string(),
  /** Why this source column feeds the enum (coverage of candidate columns). */
  reason: z.string(),
  values: z.array(EnumValueMapping),
});
export type EnumMapping = z.infer<typeof EnumMapping>;

export const FkCandidate = z.object({ value: z.string(), label: z.string() });

export const ForeignKeyDecision = z.object({
  column: z.string(),
  refSchema: z.string(),
  refTable: z.string(),
  refColumn: z.string(),
  /** fixed_value: every row points at one parent row, chosen here, in the open. */
  strategy: z.enum(['fixed_value']),
  value: z.string().nullable(),
  /** How the candidates were found (the filter on the parent table), in words. */
  candidateFilter: z.string(),
  candidateCount: z.number().int().nonnegative(),
  candidates: z.array(FkCandidate),
  reason: z.string(),
  status: MappingStatus,
});
export type ForeignKeyDecision = z.infer<typeof ForeignKeyDecision>;

export const ValidationCheckName = z.enum([
  'count_match',
  'mapping_completeness',
  'row_content',
  'enum_distribution',
  'fk_integrity',
  /** Every legacy FK of the source table re-counted through the remap, whatever the plan decided. */
  'relationships',
]);
export type ValidationCheckName = z.infer<typeof ValidationCheckName>;

export const Override = z.object({
  at: z.string(),
  by: z.string(),
  what: z.string(),
});

/** Plan ids name files under FERRY_HOME, so they keep to these characters whatever a table is called. */
export const PLAN_ID_PATTERN = /^[a-z0-9_-]+$/;

/** A table name as a piece of a plan id: lower case, runs of anything else become one "-". */
export function planIdPart(name: string): string {
  const part = name.toLowerCase().replace(/[^a-z0-9_]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  return part || 'table';
}

/**
 * Which database pair a plan is for: each side's database name, server address and port
 * (never a user or password), hashed short. Planning the same tables against another target
 * gives another plan id, so it never overwrites the first pair's plan file.
 */
export function databasePairTag(analysis: Pick<SchemaAnalysis, 'source' | 'target'>): string {
  const side = (d: SchemaAnalysis['source']) => [d.database, d.endpoint ?? null];
  return contentHash({ source: side(analysis.source), target: side(analysis.target) }).slice(0, 6);
}

/** `<source>-to-<target>-<pair>-<what>`: only [a-z0-9_-] (PLAN_ID_PATTERN). */
export function makePlanId(input: { sourceTable: string; targetTable: string; analysis: Pick<SchemaAnalysis, 'source' | 'target'>; what: unknown }): string {
  return `${planIdPart(input.sourceTable)}-to-${planIdPart(input.targetTable)}-${databasePairTag(input.analysis)}-${contentHash(input.what).slice(0, 8)}`;
}

/**
 * Rows a reviewer leaves out or narrows to (`ferry approve --exclude / --exclude-null / --where`),
 * on top of the description's conditions. The run's source query, the plan's counts and
 * validation's source side all read the same list (src/core/plan/filter-sql.ts).
 */
export const RowFilter = z.discriminatedUnion('op', [
  /** Rows whose column, as text, is one of these values are left out; rows where it is NULL stay. */
  z.object({ op: z.literal('exclude'), column: z.string(), values: z.array(z.string()).min(1) }),
  /** Only rows where the checked boolean predicate is true move (false or NULL: left out, as in SQL's WHERE). */
  z.object({ op: z.literal('where'), predicate: ColumnExpression }),
]);
export type RowFilter = z.infer<typeof RowFilter>;

/** One condition of a plan's filter: the description's (FilterCondition) or a reviewer's (RowFilter). */
export const PlanFilter = z.union([FilterCondition, RowFilter]);
export type PlanFilter = z.infer<typeof PlanFilter>;

export const MigrationPlan = z.object({
  kind: z.literal('migration_plan'),
  version: z.literal(1),
  id: z.string(),
  revision: z.number().int().positive(),
  status: z.enum(['draft', 'approved', 'rejected']),
  createdAt: z.string(),
  approvedAt: z.string().optional(),
  approvedBy: z.string().optional(),
  description: z.string(),
  analysisHash: z.string(),
  generator: ArtifactGenerator,
  source: z.object({
    schema: z.string(),
    table: z.string(),
    /** The legacy key: what migration_mappings records per row. */
    key: z.string(),
    columns: z.array(z.string()).min(1),
    filters: z.array(PlanFilter),
    rowCount: z.number().int().nonnegative(),
  }),
  target: z.object({
    schema: z.string(),
    table: z.string(),
    /** The target's primary key: the new id recorded per row in migration_mappings. */
    primaryKey: z.string(),
  }),
  columns: z.array(ColumnMapping).min(1),
  enumMappings: z.array(EnumMapping),
  foreignKeys: z.array(ForeignKeyDecision),
  strategy: z.object({
    type: z.string(),
    batchSize: z.number().int().positive(),
    dependencies: z.array(z.string()),
    transformations: z.array(z.string()),
  }),
  validations: z.array(ValidationCheckName),
  risk: z.object({ level: z.enum(['low', 'medium', 'high']), reasons: z.array(z.string()) }),
  overrides: z.array(Override),
  /**
   * Which legacy table each referenced target table was made from, and the evidence used:
   * the plan set being planned, a completed migration in migration_control, the
   * description's words, or names alone (weakest). Absent in plans made before it existed.
   */
  parentTables: z
    .array(
      z.object({
        sourceTable: z.string(),
        targetTable: z.string(),
        evidence: z.enum(['plan_set', 'migration_control', 'description', 'name']),
        detail: z.string(),
        /** The target columns resolved through it. */
        columns: z.array(z.string()),
        /** Whether that parent migration had completed when the plan was made (self-references: true). */
        parentMigrated: z.boolean(),
      }),
    )
    .optional(),
  /** Source columns no origin reads, each with why: what stays behind. */
  notCarried: z.array(z.object({ column: z.string(), why: z.string() })).optional(),
  /**
   * How the description was read, word by word (absent in plans made before it existed).
   * `item`: which table pair of the reading this plan is; `acknowledged`: numbers (1-based) a
   * person acknowledged with ferry approve --ack: spans, then the comparison's disagreements.
   * `comparison`: when the model read it, the rules' reading and where the two differ.
   */
  reading: z
    .object({
      artifact: DescriptionReading,
      hash: z.string(),
      item: z.number().int().nonnegative(),
      acknowledged: z.array(z.number().int().positive()),
      comparison: ReadingComparison.optional(),
    })
    .optional(),
});
export type MigrationPlan = z.infer<typeof MigrationPlan>;

/** Text as a POSIX shell reads it back unchanged: bare when plain, else single-quoted (placeholders stay outside). */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * One decision a person must make before the plan can run: what it is about (quoting the
 * value or column) and the `ferry approve` commands that resolve it. Each command is one the
 * CLI accepts once its <placeholders> are filled (`<plan>`, `<a|b>`: one of a, b; test/planning/
 * suggested-commands.test.ts runs every one the test suite's plans print).
 */
export interface ReviewDecision {
  about: string;
  commands: string[];
}

const approveCmd = (args: string): string => `ferry approve <plan> ${args}`;

function enumDecisions(plan: MigrationPlan): ReviewDecision[] {
  const out: ReviewDecision[] = [];
  for (const m of plan.enumMappings) {
    const choice = `<${m.enumValues.join('|')}>`;
    for (const v of m.values) {
      if (v.status !== 'needs_review') continue;
      const about = `${m.targetColumn}: source value ${v.source === null ? 'NULL' : JSON.stringify(v.source)} (${v.count} rows) has no agreed ${m.enumType} value — ${v.detail}`;
      // A NULL is not a value --map can name; a value spelled with * ? \ is escaped so the glob reads it back as itself.
      const commands =
        v.source === null
          ? [approveCmd(`--map-null ${shellWord(m.targetColumn)}=${choice}`), approveCmd(`--exclude-null ${shellWord(m.sourceColumn)}`)]
          : [approveCmd(`--map ${shellWord(escapeValueGlob(v.source))}=${choice}`), approveCmd(`--exclude ${shellWord(escapeValueGlob(v.source))}`)];
      out.push({ about, commands });
    }
  }
  return out;
}

/** What still stands between this plan and a run, with the commands that resolve each. */
export function reviewDecisions(plan: MigrationPlan): ReviewDecision[] {
  const items: ReviewDecision[] = [];
  for (const c of plan.columns) {
    if (c.origin.kind === 'via_mapping' && (c.status === 'needs_review' || c.origin.onOrphan === 'needs_review')) {
      // set_null is offered only where the target column can hold it: a suggestion is one the CLI accepts.
      const policies = c.targetNullable === false ? 'fail' : '<set_null|fail>';
      items.push({ about: `${c.target}: ${c.reason}`, commands: [approveCmd(`--orphans ${shellWord(c.target)}=${policies}`)] });
      continue;
    }
    if (c.status === 'needs_review') {
      // A rule's proposal (an expression left for review) comes first, as the command that accepts it.
      const proposal = c.origin.kind === 'expression' ? [approveCmd(`--column ${shellWord(c.target)}=${shellText(c.origin.text)}`)] : [];
      items.push({
        about: `${c.target}: ${c.reason}`,
        commands: [...proposal, approveCmd(`--column ${shellWord(c.target)}=<source column>`), approveCmd(`--column ${shellWord(c.target)}=const:<value>`)],
      });
    }
  }
  items.push(...enumDecisions(plan));
  items.push(...readingDecisions(plan));
  for (const fk of plan.foreignKeys) {
    if (fk.status === 'needs_review' || fk.value === null) {
      items.push({ about: `${fk.column}: no ${fk.refTable} row chosen — ${fk.reason}`, commands: [approveCmd(`--fk ${shellWord(fk.column)}=<${fk.refColumn}>`)] });
    }
  }
  return items;
}

/** What still stands between this plan and a run, in words a reviewer acts on. */
export function reviewItems(plan: MigrationPlan): string[] {
  return reviewDecisions(plan).map((d) => `${d.about}. Resolve with: ${d.commands.join(' — or: ')}`);
}

/** Text as one shell word, in double quotes where that needs no escape (how a person writes an expression), else as shellWord. */
export function shellText(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) || /["$`\\!]/.test(text) ? shellWord(text) : `"${text}"`;
}

/** The column is already the derivation's expression, taken without review: one decision (the column's), not two. */
const carries = (c: ColumnMapping, expression: string) => c.status === 'mapped' && c.origin.kind === 'expression' && exprKey(c.origin.text) === exprKey(expression);

/**
 * The description's words the plan does not act on yet: unread words (quoted, with why) and
 * derivations waiting for --column. A derivation is resolved once its column is overridden, or
 * when the column already is that expression (mapped without review).
 */
export function readingDecisions(plan: MigrationPlan): ReviewDecision[] {
  const r = plan.reading;
  if (!r) return [];
  const items: ReviewDecision[] = [];
  const disputed = r.comparison?.disagreements ?? [];
  for (const { index, span } of readingReviewSpans(r.artifact)) {
    const n = index + 1;
    const b = span.binding;
    if (r.acknowledged.includes(n) || ('item' in b && b.item !== r.item)) continue;
    // Unread words inside a disagreement are asked about once, there, with both readings.
    if (b.kind === 'unread' && disputed.some((d) => d.start <= span.start && span.end <= d.end)) continue;
    if (b.kind === 'derivation') {
      if (plan.columns.some((c) => c.target === b.column && (c.status === 'overridden' || carries(c, b.expression)))) continue;
      items.push({
        about: `${b.column}: the description says "${span.text}" (words #${n}), read as ${b.column} = ${b.expression}`,
        commands: [approveCmd(`--column ${shellWord(b.column)}=${shellText(b.expression)}`), approveCmd(`--ack ${n}`) + ' (to keep the planned origin)'],
      });
    } else if (b.kind === 'unread') {
      items.push({
        about: `the description's words "${span.text}" (#${n}) were not read: ${b.why}; the plan does not act on them`,
        commands: [`ferry plan again with them rephrased`, approveCmd(`--ack ${n}`) + ' (to go ahead without them)'],
      });
    }
  }
  disputed.forEach((d, k) => {
    const n = disagreementNumber(plan, k);
    if (r.acknowledged.includes(n)) return;
    items.push({
      about: `the model and the rules read the description's words "${d.text}" (#${n}) differently: the model read ${d.model}; the rules read ${d.rules}; the plan follows the model's reading`,
      commands: [`ferry plan again with them rephrased`, approveCmd(`--ack ${n}`) + " (to go ahead with the model's reading)"],
    });
  });
  return items;
}

/** The --ack number of the comparison's k-th disagreement: after the reading's spans. */
export function disagreementNumber(plan: MigrationPlan, k: number): number {
  return (plan.reading?.artifact.spans.length ?? 0) + k + 1;
}

/** The reading's items as text (see reviewItems). */
export function readingItems(plan: MigrationPlan): string[] {
  return readingDecisions(plan).map((d) => `${d.about}. Resolve with: ${d.commands.join(' — or: ')}`);
}

export type ViaMappingOrigin = Extract<ColumnOrigin, { kind: 'via_mapping' }>;

/** The plan's columns resolved through a parent migration's mappings. */
export function viaMappingColumns(plan: MigrationPlan): Array<{ column: ColumnMapping; origin: ViaMappingOrigin }> {
  return plan.columns.flatMap((c) => (c.origin.kind === 'via_mapping' ? [{ column: c, origin: c.origin }] : []));
}

/** A reference back into the plan's own table (employees.reports_to): resolved in a second pass. */
export function isSelfReference(plan: MigrationPlan, origin: ViaMappingOrigin): boolean {
  return origin.parent.sourceTable === `${plan.source.schema}.${plan.source.table}` && origin.parent.targetTable === `${plan.target.schema}.${plan.target.table}`;
}

/** Several plans made from one description, in the order they must run (parents first). */
export const PlanSet = z.object({
  kind: z.literal('plan_set'),
  version: z.literal(1),
  createdAt: z.string(),
  description: z.string(),
  /** Plan files, relative to the plan set file, in dependency order. */
  plans: z.array(z.object({ path: z.string(), planId: z.string(), sourceTable: z.string(), targetTable: z.string(), dependsOn: z.array(z.string()) })).min(1),
});
export type PlanSet = z.infer<typeof PlanSet>;
