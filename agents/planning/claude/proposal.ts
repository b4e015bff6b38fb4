import * as z from 'zod';
import { ALLOWED_SUMMARY } from '../../../src/core/expr/index.js';
import { toolInputSchema } from '../../../src/core/llm/tool-step.js';

/**
 * What the model is asked for: the decisions only (which tables, which rows, where each
 * target column comes from, enum values, reference choices). Counts, risk, validations and
 * the per-value rule evidence are filled by the deterministic planner from the analysis, so
 * the artifact is the same MigrationPlan whoever planned it. The tool's input schema is this
 * schema, through z.toJSONSchema.
 */
const Scalar = z.union([z.string(), z.number(), z.boolean()]);

export const ProposalFilter = z.object({
  column: z.string().describe('a column of the source table'),
  op: z.enum(['=', '<>', '<', '<=', '>', '>=', 'in', 'is_null', 'is_not_null']),
  value: z.union([Scalar, z.array(z.union([z.string(), z.number()])).min(1)]).optional().describe('omitted for is_null / is_not_null; a list for in'),
});
export type ProposalFilter = z.infer<typeof ProposalFilter>;

export const ProposalOrigin = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('copy'), source: z.string().describe('a source column') }),
  z.object({ kind: z.literal('constant'), value: z.union([Scalar, z.null()]) }),
  z.object({ kind: z.literal('enum_map'), source: z.string().describe('the source column whose values are mapped') }),
  z.object({ kind: z.literal('generated_uuid') }),
  z.object({ kind: z.literal('foreign_key') }),
  z.object({ kind: z.literal('default') }),
  /** Only the text: ferry parses it with PostgreSQL's parser and builds and checks the tree itself. */
  z.object({
    kind: z.literal('expression'),
    text: z
      .string()
      .min(1)
      .describe(`a PostgreSQL expression over the source row, e.g. first_name || ' ' || last_name, lower(mail), hired_at::date, parent_table.name. Allowed: ${ALLOWED_SUMMARY}`),
  }),
  z.object({
    kind: z.literal('transform'),
    sources: z.array(z.string()).min(1).describe('the source columns the value is computed from'),
    description: z.string().min(1).describe('what the function computes, precisely; only for what an expression cannot say (it is checked by type only)'),
  }),
]);
export type ProposalOrigin = z.infer<typeof ProposalOrigin>;

/**
 * What a span of the description became, as the model reads it: the same kinds as the rules'
 * DescriptionReading (src/core/artifacts/description-reading.ts). Predicates and derivations
 * are column-language text (PostgreSQL syntax), parsed and type-checked when grounded.
 */
export const ProposalBinding = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('source_table'), table: z.string().describe('the source table these words name') }),
  z.object({ kind: z.literal('target_table'), table: z.string().describe('the target table these words name') }),
  z.object({
    kind: z.literal('filter'),
    predicate: z.string().min(1).describe("a condition on source columns in PostgreSQL syntax: group_id = 11, group_id <> 12 (an exclusion), (group_id = 11 OR group_id = 12), ended_at IS NULL, created_at >= '2024-01-01', is_active = true"),
  }),
  z.object({
    kind: z.literal('derivation'),
    column: z.string().describe('a target column'),
    expression: z.string().min(1).describe("its value in PostgreSQL syntax over source columns: first_name || ' ' || last_name, lower(email), id, true"),
  }),
  z.object({ kind: z.literal('value_override'), source: z.string().describe('a source value'), target: z.string().describe('the enum value it becomes') }),
  z.object({ kind: z.literal('order'), tables: z.array(z.string()).min(2).describe('source tables in the order written') }),
  z.object({ kind: z.literal('filler'), why: z.string().optional() }).describe('words that carry no choice: verbs of moving, articles, politeness'),
  z.object({ kind: z.literal('unread'), why: z.string().describe('what the words seem to ask, and why it cannot be expressed') }),
]);
export type ProposalBinding = z.infer<typeof ProposalBinding>;

/** Step 1: the description read span by span; source, target and filter follow from it. */
export const IntentProposal = z.object({
  source: z.object({ schema: z.string().optional(), table: z.string() }),
  target: z.object({ schema: z.string().optional(), table: z.string() }),
  spans: z
    .array(z.object({ text: z.string().min(1).describe('words copied exactly from the description, in order'), reads_as: ProposalBinding }))
    .min(1)
    .describe('the description cut into spans, in order, every word in one span'),
  rationale: z.string().describe('how the description was read, in one or two sentences'),
});
export type IntentProposal = z.infer<typeof IntentProposal>;

/** Step 2, once the rows under the filter have been profiled: where each target column comes from. */
export const ColumnsProposal = z.object({
  columns: z.array(z.object({ target: z.string().describe('a column of the target table'), origin: ProposalOrigin, why: z.string() })),
  enumMappings: z.array(
    z.object({
      targetColumn: z.string(),
      sourceColumn: z.string(),
      values: z.array(z.object({ source: z.string().nullable(), target: z.string().describe('a value of the enum') })),
    }),
  ),
  foreignKeys: z.array(z.object({ column: z.string(), value: z.string().nullable(), why: z.string() })),
});
export type ColumnsProposal = z.infer<typeof ColumnsProposal>;

export type PlanProposal = IntentProposal & ColumnsProposal;

export const INTENT_TOOL = 'read_description';
export const COLUMNS_TOOL = 'map_columns';

export const TOOLS = [
  {
    name: INTENT_TOOL,
    description: 'Step 1: the description read span by span (each span bound to what it becomes, or unread), with the source and the target table.',
    input_schema: toolInputSchema(IntentProposal),
  },
  {
    name: COLUMNS_TOOL,
    description: 'Step 2: the origin of every target column, the enum value of every source value, reference choices.',
    input_schema: toolInputSchema(ColumnsProposal),
  },
];
