import { dirname, relative, resolve } from 'node:path';
import { approvePlan } from '../../agents/planning/index.js';
import { PlanSet, planIdPart, reviewItems, viaMappingColumns } from '../core/artifacts/migration-plan.js';
import type { Connections, PlannedTable, Say } from '../chain.js';
import { PlanError } from '../core/errors.js';
import { assertNoDrift, readDriftCatalogs } from '../orchestrator/drift.js';
import { REPLAY_ROW_LIMIT, type RunEvent } from '../orchestrator/run-migration.js';
import { executeRunSet } from '../run/run-plan-set.js';
import type { RunStore } from '../store/run-store.js';
import { homePath, planPaths, saveJson } from '../store/file-store.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { renderPlan, renderReport } from '../present/render.js';
import { warningLine } from '../present/run-events.js';
import type { DataApiSettings } from '../target/data-api.js';

/**
 * `ferry plan/show/approve/run` for descriptions that name several tables: one plan file per
 * table (analysis beside each, as for a single plan) and a plan set file listing them in
 * the order they must run. Reading a set (all `ferry show` needs) is in plan-set-file.ts.
 */
import { loadPlanSet } from './plan-set-file.js';

export { isPlanSetFile, loadPlanSet, showPlanSet } from './plan-set-file.js';

/** Writes the plans of a description the reading found several moves in, and the plan set listing them. */
export async function savePlanSet(input: { description: string; planned: PlannedTable[]; plansDir: string; out?: string; say: Say }): Promise<string> {
  const { say, planned } = input;
  const setPath = input.out ? resolve(input.out) : homePath(input.plansDir, `${planned.map((p) => planIdPart(p.plan.target.table)).join('-')}.planset.json`);
  const entries: PlanSet['plans'] = [];
  for (const { plan, analysis } of planned) {
    const paths = planPaths(homePath(input.plansDir, `${plan.id}.json`));
    await saveJson(paths.analysis, analysis);
    await saveJson(paths.plan, plan);
    const dependsOn = [...new Set(viaMappingColumns(plan).flatMap((c) => (c.origin.parent.planId && c.origin.parent.planId !== plan.id ? [c.origin.parent.planId] : [])))];
    entries.push({ path: relative(dirname(setPath), paths.plan), planId: plan.id, sourceTable: `${plan.source.schema}.${plan.source.table}`, targetTable: `${plan.target.schema}.${plan.target.table}`, dependsOn });
    say('');
    say(renderPlan(plan));
  }
  const set: PlanSet = { kind: 'plan_set', version: 1, createdAt: new Date().toISOString(), description: input.description, plans: entries };
  await saveJson(setPath, PlanSet.parse(set));
  say('');
  say(`Plan set written to ${setPath}: ${entries.length} plans, in this order: ${entries.map((e) => e.targetTable).join(' → ')}`);
  const open = planned.flatMap(({ plan }) => reviewItems(plan).map((i) => `${plan.id}: ${i}`));
  say(open.length ? `Next: resolve the flagged items in each plan (ferry approve <plan> …), then: ferry approve ${setPath} && ferry run ${setPath}` : `Next: ferry approve ${setPath} && ferry run ${setPath}`);
  for (const item of open) say(`  - ${item}`);
  return setPath;
}

/** Approves every plan of the set; refuses (naming the plan) while any has items to review. */
export async function approvePlanSet(path: string, by: string, store: RunStore, say: Say): Promise<void> {
  const { plans } = await loadPlanSet(path);
  const approved = plans.map((p) => ({ ...p, plan: p.plan.status === 'approved' ? p.plan : approvePlan(p.plan, by) }));
  // The store's approval is what ferry run trusts (a plan file cannot approve itself); a plan
  // already approved there is checked, never re-stamped.
  for (const p of approved) {
    if (p.plan.status === 'approved' && plans.find((q) => q.path === p.path)!.plan === p.plan) await store.approvedHash(p.plan);
    else await store.savePlan(p.plan, p.analysis, { by });
    await saveJson(p.path, p.plan);
  }
  say(`✅ ${approved.length} plans approved by ${by}. Run them: ferry run ${resolve(path)}`);
}

type SetStep = Awaited<ReturnType<typeof executeRunSet>>['steps'][number];

/** One plan of a set, as the person reads it: refused, not checked, or what the run did. */
function sayStep(step: SetStep, say: Say): 'refused' | 'not_checked' | 'ran' {
  const name = `${step.plan.source.table} → ${step.plan.target.table}`;
  if ('refused' in step) {
    say(`❌ ${name} refused: ${step.refused.code}: ${step.refused.message}${step.refused.hint ? `\n   → ${step.refused.hint}` : ''}${step.record ? ` (run ${step.record.id})` : ''}`);
    return 'refused';
  }
  if ('notChecked' in step) {
    say(`⏭ ${name}: ${step.notChecked.reason} (recorded as run ${step.notChecked.record.id}, ${step.notChecked.record.errorCode})`);
    return 'not_checked';
  }
  const { run, report, record, warnings } = step.result;
  if (run.dryRun) {
    say(
      run.status === 'completed'
        ? `🔎 ${name}: dry run completed, ${run.inserted} rows would be written, ${run.skipped} already migrated; every batch was rolled back${run.digested ? `; rows checksum ${run.rowsChecksum}` : ` (no rows checksum: more than ${REPLAY_ROW_LIMIT.toLocaleString('en-US')} rows)`} (run ${record.id})`
        : `❌ ${name}: dry run failed: ${run.errorCode}: ${run.error} (run ${record.id})`,
    );
  } else {
    say(run.status === 'completed' ? `✅ ${name}: migration ${run.migrationId}, ${run.inserted} inserted, ${run.skipped} already migrated (run ${record.id})` : `❌ ${name}: migration ${run.migrationId} failed: ${run.errorCode}: ${run.error} (run ${record.id})`);
  }
  for (const w of warnings) say(warningLine(w));
  if (report) say(renderReport(report));
  return 'ran';
}

/**
 * Runs the set in order, each plan recorded in the run store like a single run (so each can
 * be shown and replayed), with --dry-run and --parallel as for one plan. A real run stops at
 * the first failure; a dry run goes through every plan and writes nothing (see executeRunSet
 * for a child whose parent was only dry-run).
 */
export async function runPlanSet(input: {
  path: string;
  store: RunStore;
  conn: Connections;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  startedBy: string;
  dryRun: boolean;
  parallel: number;
  onEvent: (e: RunEvent) => void;
  say: Say;
  asUser?: string | null;
  dataApi?: DataApiSettings | undefined;
}): Promise<number> {
  const { say, store, dryRun } = input;
  const { plans } = await loadPlanSet(input.path);
  const notApproved = plans.filter((p) => p.plan.status !== 'approved');
  if (notApproved.length) {
    throw new PlanError('PLAN_NOT_APPROVED', `${notApproved.length} plan(s) of the set are not approved: ${notApproved.map((p) => p.plan.id).join(', ')}`, {
      hint: `resolve their review items, then ferry approve ${input.path}`,
    });
  }
  const fresh = await readDriftCatalogs(input.conn, plans.map((p) => p.plan));
  for (const p of plans) assertNoDrift(p.plan, p.analysis, fresh);
  // As for a single plan: only the versions approved in the store run (executeRun checks each).
  for (const p of plans) await store.approvedHash(p.plan);
  const result = await executeRunSet({
    plans,
    store,
    conn: input.conn,
    driver: input.driver,
    policy: input.policy,
    startedBy: input.startedBy,
    dryRun,
    parallel: input.parallel,
    onEvent: (_plan, e) => input.onEvent(e),
    say,
    asUser: input.asUser ?? null,
    dataApi: input.dataApi,
  });
  const outcomes = result.steps.map((step) => sayStep(step, say));
  const notChecked = outcomes.filter((o) => o === 'not_checked').length;
  const runIds = result.steps.flatMap((s) => ('result' in s ? [s.result.record.id] : []));
  if (runIds.length) say(`   recorded as run(s) ${runIds.join(', ')} (ferry runs show <run>; ferry replay <run>)`);
  if (dryRun) {
    const checked = result.steps.length - notChecked;
    say(
      result.status === 'completed'
        ? `🔎 dry run of the plan set completed: ${checked} of ${plans.length} plans dry-run; nothing was written`
        : `❌ dry run of the plan set did not pass: ${checked} of ${plans.length} plans dry-run${notChecked ? `, ${notChecked} not checked until their parents run for real` : ''}; nothing was written`,
    );
    return result.status === 'completed' ? 0 : 1;
  }
  if (result.status === 'failed') {
    const rest = plans.slice(result.steps.length).map((p) => p.plan.target.table);
    say(`stopped at ${result.stoppedAt?.target.table}${rest.length ? `; not run: ${rest.join(', ')}` : ''}`);
    return 1;
  }
  say(`✅ plan set completed: ${result.steps.length} migrations`);
  return 0;
}
