import type { TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { PlanError } from '../../src/core/errors.js';
import type { MigrationIntent } from './intent.js';

/**
 * Parents before children: topological over the FK graph of the named tables (target FKs
 * and source FKs alike; self-references are resolved inside their own run and do not count).
 * Among tables free to go, the description's order decides. A cycle is refused, naming it.
 */
export function orderByDependencies(intents: MigrationIntent[]): MigrationIntent[] {
  const key = (t: TableInfo) => `${t.schema}.${t.name}`;
  const parentsOf = new Map<number, Set<number>>();
  intents.forEach((child, i) => {
    const parents = new Set<number>();
    intents.forEach((parent, j) => {
      if (i === j) return;
      const viaTarget = child.target.foreignKeys.some((fk) => `${fk.refSchema}.${fk.refTable}` === key(parent.target));
      const viaSource = child.source.foreignKeys.some((fk) => `${fk.refSchema}.${fk.refTable}` === key(parent.source));
      if (viaTarget || viaSource) parents.add(j);
    });
    parentsOf.set(i, parents);
  });
  const done = new Set<number>();
  const order: MigrationIntent[] = [];
  while (order.length < intents.length) {
    const next = intents.findIndex((_, i) => !done.has(i) && [...parentsOf.get(i)!].every((p) => done.has(p)));
    if (next === -1) {
      const stuck = intents.filter((_, i) => !done.has(i));
      const cycle = findCycle(stuck.map((s) => intents.indexOf(s)), parentsOf).map((i) => intents[i]!.source.name);
      throw new PlanError('DEPENDENCY_CYCLE', `the tables reference each other in a cycle: ${cycle.join(' → ')}; no order migrates every parent before its children`, {
        hint: 'migrate them as separate plans, making one reference nullable (set later), or leave one table out',
        details: { cycle },
      });
    }
    done.add(next);
    order.push(intents[next]!);
  }
  return order;
}

function findCycle(nodes: number[], parentsOf: Map<number, Set<number>>): number[] {
  // Walk parent links from any stuck node until one repeats: the repeat closes the cycle.
  const path: number[] = [];
  let at = nodes[0]!;
  while (!path.includes(at)) {
    path.push(at);
    at = [...parentsOf.get(at)!].find((p) => nodes.includes(p))!;
  }
  return [...path.slice(path.indexOf(at)), at];
}

/** Names, in each plan, the plan of the set that its references' parents come from. */
export function linkParents(plans: MigrationPlan[]): MigrationPlan[] {
  const byPair = new Map(plans.map((p) => [`${p.source.schema}.${p.source.table}→${p.target.schema}.${p.target.table}`, p.id]));
  return plans.map((plan) => ({
    ...plan,
    columns: plan.columns.map((c) => {
      if (c.origin.kind !== 'via_mapping') return c;
      const planId = byPair.get(`${c.origin.parent.sourceTable}→${c.origin.parent.targetTable}`);
      return planId === undefined ? c : { ...c, origin: { ...c.origin, parent: { ...c.origin.parent, planId } } };
    }),
  }));
}
