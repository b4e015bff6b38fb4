import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import type { ValidationReport } from '../../src/core/artifacts/validation-report.js';
import type { RunResult } from '../../src/orchestrator/run-migration.js';
import { executeRun, type RunRequest } from '../../src/run/execute-run.js';
import { executeRunSet } from '../../src/run/run-plan-set.js';
import type { RunRow, RunStore } from '../../src/store/run-store.js';

/**
 * executeRun — the function the CLI, the service and the demo run plans through — for tests
 * that run a prepared plan: the work directory defaults to the program's, startedBy to "test",
 * and the outcome is unwrapped (no onceKey is given, so every call runs).
 */
/**
 * What `ferry approve` does for a plan a test approved in memory: the run store records the
 * approval (executeRun runs only content the store holds an approval for). The same content
 * again is a no-op. Tests re-approve plans in memory (a new approvedAt) or change an approved
 * plan on purpose; a person would make that a new revision with ferry approve, so here it
 * becomes the next revision too, and that plan is returned to run.
 */
export async function recordApproval(store: RunStore, plan: MigrationPlan, analysis?: SchemaAnalysis): Promise<MigrationPlan> {
  if (plan.status !== 'approved') return plan;
  try {
    await store.savePlan(plan, analysis, { by: plan.approvedBy ?? 'test' });
    return plan;
  } catch (e) {
    if ((e as { code?: string }).code !== 'PLAN_TAMPERED') throw e;
    const { plan: next } = await store.saveNewPlan({ ...plan, status: 'draft' }, analysis);
    const approved: MigrationPlan = { ...next, status: 'approved', approvedBy: plan.approvedBy, approvedAt: plan.approvedAt };
    await store.savePlan(approved, analysis, { by: plan.approvedBy ?? 'test' });
    return approved;
  }
}

export async function executeRunForTest(
  store: RunStore,
  input: Omit<RunRequest, 'store' | 'workDir' | 'startedBy'> & Partial<Pick<RunRequest, 'workDir' | 'startedBy'>>,
): Promise<{ run: RunResult; report: ValidationReport | null; record: RunRow; warnings: string[] }> {
  const workDir = input.workDir ?? (input.program ? dirname(input.program.bundle.path) : await mkdtemp(join(tmpdir(), 'ferry-run-')));
  await recordApproval(store, input.plan, input.analysis);
  const plan = await recordApproval(store, input.plan, input.analysis);
  const outcome = await executeRun({ ...input, plan, store, workDir, startedBy: input.startedBy ?? 'test' });
  if (!outcome.created) throw new Error(`executeRun found run ${outcome.run.id} already recorded`);
  return { run: outcome.result, report: outcome.report, record: outcome.run, warnings: outcome.warnings };
}

/** executeRunSet with each plan's approval recorded first, as `ferry approve <set>` does. */
export async function executeRunSetForTest(input: Parameters<typeof executeRunSet>[0]): ReturnType<typeof executeRunSet> {
  const plans = [];
  for (const p of input.plans) plans.push({ ...p, plan: await recordApproval(input.store, p.plan, p.analysis) });
  return executeRunSet({ ...input, plans });
}
