import { resolve } from 'node:path';
import { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { analysisHash, SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import type { Connections } from '../connections.js';
import { connectionOptions, loadConfig, requireUrl, type FerryConfig } from '../config.js';
import { PlanError } from '../core/errors.js';
import { isStoredPlanRef, loadArtifact, planPaths, saveJson } from '../store/file-store.js';
import { positiveInteger } from './args.js';

/** --source / --target, for the commands that open the databases. */
// The flags and URL override every database command takes: their own light module, so a command's start loads nothing else for them.
export { URL_FLAGS, WEAK_SANDBOX_FLAG, withUrls } from './url-flags.js';

/**
 * Both databases for the length of `fn`, closed whatever happens. The connections (pg and its
 * drivers) are imported here, not at the top: `ferry show` and the help of every command import
 * this file and open no database.
 */
export async function withConnections<T>(config: FerryConfig, fn: (conn: Connections) => Promise<T>): Promise<T> {
  const { openConnections } = await import('../connections.js');
  const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

export function migrationIdArg(raw: string | undefined): number {
  return positiveInteger('<migration-id>', raw ?? '', { code: 'ARG_INVALID', hint: 'list runs with: ferry runs' });
}

/** A run of the run store (not a migration id). */
export function runIdArg(raw: string | undefined): number {
  return positiveInteger('<run>', raw ?? '', { code: 'ARG_INVALID', hint: 'ferry runs lists recorded runs' });
}

export interface LoadedPlan {
  paths: ReturnType<typeof planPaths>;
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
}

/**
 * A plan file with the analysis beside it, or a plan id of the run store (its files written
 * beside as usual). The store (pg, the run machinery) is imported only for a plan id: a plan
 * file is read with the schemas alone.
 */
export async function loadPlanWithAnalysis(planPath: string, config: FerryConfig = loadConfig()): Promise<LoadedPlan> {
  if (isStoredPlanRef(planPath)) {
    const { storedPlanPaths, withStore } = await import('../service/commands.js');
    const stored = await withStore(config, async (store) => {
      const row = await store.getPlan(planPath);
      return { plan: row.plan, analysis: await store.getAnalysis(row.plan.analysisHash) };
    });
    const paths = storedPlanPaths(config, stored.plan.id);
    await saveJson(paths.analysis, stored.analysis);
    await saveJson(paths.plan, stored.plan);
    return { paths, ...stored };
  }
  const paths = planPaths(resolve(planPath));
  const plan = await loadArtifact(paths.plan, MigrationPlan, 'plan');
  const analysis = await loadArtifact(paths.analysis, SchemaAnalysis, 'analysis');
  if (analysisHash(analysis) !== plan.analysisHash) {
    throw new PlanError('ANALYSIS_MISMATCH', `the analysis beside ${planPath} is not the one this plan was made from`, { hint: 'make the plan again with ferry plan' });
  }
  return { paths, plan, analysis };
}
