import { applyOverrides } from '../agents/planning/index.js';
import { isPlainColumnName, type PlanOverrides } from '../agents/planning/review.js';
import type { PlanProbe } from '../agents/planning/probe.js';
import { readDescription, type ReadResult } from '../agents/planning/reading/index.js';
import { readingHash, type DescriptionReading } from './core/artifacts/description-reading.js';
import { MigrationPlan, reviewItems } from './core/artifacts/migration-plan.js';
import { findTable, type SchemaAnalysis } from './core/artifacts/schema-analysis.js';
import { FerryError } from './core/errors.js';
import type { Queryable } from './core/sql.js';
import { createReadingProbe } from './db/reading-probe.js';

/** The rules' word-by-word reading of a description against the analysed databases. */
export function readForPlanning(description: string, analysis: SchemaAnalysis, source: Queryable, now?: Date): Promise<ReadResult> {
  return readDescription({ description, analysis, probe: createReadingProbe(source), ...(now ? { now } : {}) });
}

/**
 * Records the reading on the plan and applies its value overrides the way `ferry approve
 * --map` would, and its renames (a derivation that is one source column) the way `--column
 * synopsis=description` would, each checked against the data and the types. One the plan
 * refutes ("map Foo to remote" where no row holds Foo, a text column renamed into an integer)
 * becomes an unread span saying why: a review item, never dropped. A derivation that is an
 * expression waits for the person (readingDecisions).
 */
export async function attachReading(plan: MigrationPlan, reading: DescriptionReading, item: number, probe: PlanProbe, analysis: SchemaAnalysis): Promise<MigrationPlan> {
  let next = plan;
  const columns = new Set(findTable(analysis.source, plan.source.table, plan.source.schema)?.columns.map((c) => c.name) ?? []);
  // A rename the plan already made (legacy_role_id = id, copied by name) changes nothing: no override.
  const renames = (column: string, expression: string) =>
    isPlainColumnName(expression) && columns.has(expression) && !plan.columns.some((c) => c.target === column && (c.origin.kind === 'copy' || c.origin.kind === 'cast') && c.origin.source === expression);
  const artifact: DescriptionReading = structuredClone(reading);
  for (const [index, span] of artifact.spans.entries()) {
    const b = span.binding;
    if (!('item' in b) || b.item !== item) continue;
    let override: PlanOverrides;
    if (b.kind === 'value_override') override = { map: [{ source: b.source, target: b.target }] };
    else if (b.kind === 'derivation' && renames(b.column, b.expression)) override = { column: [{ target: b.column, origin: b.expression }] };
    else continue;
    try {
      // The plan's own time: a plan replayed from its recorded exchange is the same plan.
      next = await applyOverrides(next, override, 'the description', probe, new Date(plan.createdAt));
    } catch (e) {
      if (!(e instanceof FerryError)) throw e;
      const asked = b.kind === 'value_override' ? `asks to map ${JSON.stringify(b.source)} to ${b.target}` : `asks for ${b.column} from ${b.expression}`;
      artifact.spans[index] = { ...span, binding: { kind: 'unread', why: `${asked}, but ${e.message}` } };
    }
  }
  const read = MigrationPlan.parse({ ...next, revision: plan.revision, reading: { artifact, hash: readingHash(artifact), item, acknowledged: [] } });
  // The planner counted the decisions before the description settled some (and its unread words add others).
  const open = reviewItems(read).length;
  const reasons = read.risk.reasons.filter((r) => !/decision\(s\) need a person/.test(r));
  if (open) reasons.unshift(`${open} decision(s) need a person before this plan can run`);
  return MigrationPlan.parse({ ...read, risk: { level: open > 0 ? 'high' : reasons.length > 0 ? 'medium' : 'low', reasons } });
}
