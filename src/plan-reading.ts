import { applyOverrides } from '../agents/planning/index.js';
import type { PlanProbe } from '../agents/planning/probe.js';
import { readDescription, type ReadResult } from '../agents/planning/reading/index.js';
import { readingHash, type DescriptionReading } from './core/artifacts/description-reading.js';
import { MigrationPlan } from './core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from './core/artifacts/schema-analysis.js';
import { FerryError } from './core/errors.js';
import type { Queryable } from './core/sql.js';
import { createReadingProbe } from './db/reading-probe.js';

/** The rules' word-by-word reading of a description against the analysed databases. */
export function readForPlanning(description: string, analysis: SchemaAnalysis, source: Queryable, now?: Date): Promise<ReadResult> {
  return readDescription({ description, analysis, probe: createReadingProbe(source), ...(now ? { now } : {}) });
}

/**
 * Records the reading on the plan and applies its value overrides the way `ferry approve
 * --map` would (each checked against the data). An override the data refutes ("map Foo to
 * remote" where no row holds Foo) becomes an unread span saying why: a review item, never dropped.
 */
export async function attachReading(plan: MigrationPlan, reading: DescriptionReading, item: number, probe: PlanProbe): Promise<MigrationPlan> {
  let next = plan;
  const artifact: DescriptionReading = structuredClone(reading);
  for (const [index, span] of artifact.spans.entries()) {
    const b = span.binding;
    if (b.kind !== 'value_override' || b.item !== item) continue;
    try {
      next = await applyOverrides(next, { map: [{ source: b.source, target: b.target }] }, 'the description', probe);
    } catch (e) {
      if (!(e instanceof FerryError)) throw e;
      artifact.spans[index] = { ...span, binding: { kind: 'unread', why: `asks to map ${JSON.stringify(b.source)} to ${b.target}, but ${e.message}` } };
    }
  }
  return MigrationPlan.parse({ ...next, revision: plan.revision, reading: { artifact, hash: readingHash(artifact), item, acknowledged: [] } });
}
