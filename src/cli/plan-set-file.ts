import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MigrationPlan, PlanSet, reviewItems } from '../core/artifacts/migration-plan.js';
import { analysisHash, SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import type { Say } from '../chain.js';
import { PlanError } from '../core/errors.js';
import { loadArtifact, planPaths } from '../store/file-store.js';

/**
 * Reading a plan set file: the schemas and the files only, so `ferry show` (and a command's
 * first check of its argument) loads no database driver, agent or sandbox. Writing, approving
 * and running a set are in plan-set-command.ts.
 */

/** A plan set file, told apart from a plan by its kind. */
export async function isPlanSetFile(path: string): Promise<boolean> {
  try {
    const json = JSON.parse(await readFile(resolve(path), 'utf8')) as { kind?: unknown };
    return json.kind === 'plan_set';
  } catch {
    return false;
  }
}

export async function loadPlanSet(path: string): Promise<{ set: PlanSet; plans: Array<{ plan: MigrationPlan; analysis: SchemaAnalysis; path: string; dir: string }> }> {
  const setPath = resolve(path);
  const set = await loadArtifact(setPath, PlanSet, 'plan set');
  const plans = [];
  for (const entry of set.plans) {
    const paths = planPaths(resolve(dirname(setPath), entry.path));
    const plan = await loadArtifact(paths.plan, MigrationPlan, 'plan');
    const analysis = await loadArtifact(paths.analysis, SchemaAnalysis, 'analysis');
    if (analysisHash(analysis) !== plan.analysisHash) {
      throw new PlanError('ANALYSIS_MISMATCH', `the analysis beside ${paths.plan} is not the one this plan was made from`, { hint: 'make the plan set again with ferry plan' });
    }
    plans.push({ plan, analysis, path: paths.plan, dir: paths.bundleDir });
  }
  return { set, plans };
}

export async function showPlanSet(path: string, say: Say): Promise<void> {
  const { set, plans } = await loadPlanSet(path);
  say(`Plan set: "${set.description}" — ${plans.length} plans, run in this order:`);
  plans.forEach(({ plan, path: p }, i) => {
    const open = reviewItems(plan).length;
    say(`  ${i + 1}. ${plan.source.table} → ${plan.target.table}  ${plan.status}${open ? `, ${open} item(s) to review` : ''}  ${p}`);
  });
}
