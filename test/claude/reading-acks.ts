import { disagreementNumber, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';

/**
 * The --ack numbers of a Claude plan's open reading items: the model's derivations and unread
 * words, and every disagreement with the rules. Tests whose subject is not the reading
 * acknowledge them all, as a reviewer who has read them would (issue 15 made them decisions).
 */
export function readingAcks(plan: MigrationPlan): number[] {
  const r = plan.reading;
  if (!r) return [];
  const spans = r.artifact.spans.flatMap((s, i) => (s.binding.kind === 'derivation' || s.binding.kind === 'unread' ? [i + 1] : []));
  return [...spans, ...(r.comparison?.disagreements ?? []).map((_, k) => disagreementNumber(plan, k))].filter((n) => !r.acknowledged.includes(n));
}
