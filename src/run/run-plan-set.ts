import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import type { ValidationReport } from '../core/artifacts/validation-report.js';
import type { Connections } from '../connections.js';
import { prepareProgram, type Say } from './program.js';
import { FerryError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import { planTables } from '../control/control-tables.js';
import { parentMigrations } from '../core/plan/references.js';
import type { RunEvent, RunResult } from '../orchestrator/run-migration.js';
import type { RunRow, RunStore } from '../store/run-store.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { executeRun } from './execute-run.js';
import type { DataApiSettings } from '../target/data-api.js';

/** A plan of the set that ran (for real or dry), with its run record. */
export interface PlanSetRan {
  record: RunRow;
  run: RunResult;
  report: ValidationReport | null;
  warnings: string[];
}

export type PlanSetStep =
  | { plan: MigrationPlan; result: PlanSetRan }
  /** Refused before it wrote anything (a parent not migrated, a stale plan); record: its failed run, when one was made. */
  | { plan: MigrationPlan; refused: FerryError; record: RunRow | null }
  /**
   * Dry runs only: not run, because a parent of this set was itself only dry-run (or failed)
   * with rows still to write, so the parent mappings this plan's references resolve through
   * do not exist. Recorded as a failed dry run with code PARENT_ONLY_DRY_RUN.
   */
  | { plan: MigrationPlan; notChecked: { record: RunRow; reason: string; parents: string[] } };

export interface PlanSetOutcome {
  status: 'completed' | 'failed';
  dryRun: boolean;
  steps: PlanSetStep[];
  /** A real run stops at the first plan that does not complete and pass validation. */
  stoppedAt?: MigrationPlan;
}

/** Why a dry run of a child whose parent was only dry-run cannot be checked. */
export const PARENT_ONLY_DRY_RUN = 'PARENT_ONLY_DRY_RUN';

/**
 * Runs a plan set's plans in order, each through executeRun (so each is recorded like a
 * single run: replayable, with its events, partitions and report).
 *
 * A real run stops at the first plan that does not complete with a passing validation: its
 * children would only meet orphans. A dry run writes nothing, so it goes through every plan;
 * a child whose parent (in this set) would still write rows is not run — its references
 * resolve through the parent's mappings, which only a real run of the parent creates, and a
 * dry run that failed every such row as an orphan would say nothing true. It is recorded as
 * a failed dry run (PARENT_ONLY_DRY_RUN) naming the parent.
 */
export interface RunSetInput {
  plans: Array<{ plan: MigrationPlan; analysis: SchemaAnalysis; dir: string }>;
  store: RunStore;
  conn: Connections;
  driver: SandboxDriver;
  policy: SandboxPolicy;
  startedBy: string;
  dryRun?: boolean;
  parallel?: number;
  onEvent?: (plan: MigrationPlan, e: RunEvent, runId: number, seq: number) => void;
  say?: Say;
  logger?: Logger;
  /** As for one plan (RunRequest): whom authenticated reads as, and the Data API to read through, in each report's app-visibility section. */
  asUser?: string | null;
  dataApi?: DataApiSettings | undefined;
}

/**
 * In a dry run, a plan whose parents in this set would still write rows is not run: recorded
 * as a failed dry run (PARENT_ONLY_DRY_RUN) naming them. Null when it can be dry-run.
 */
async function dryRunWithoutParents(input: RunSetInput, plan: MigrationPlan, unwritten: ReadonlyMap<string, string>): Promise<PlanSetStep | null> {
  const waiting = parentMigrations(plan).flatMap((parent) => {
    const why = unwritten.get(`${parent.sourceTable}→${parent.targetTable}`);
    return why ? [{ parent, why }] : [];
  });
  if (!waiting.length) return null;
  const reason = `not dry-run: it resolves ${waiting.flatMap((w) => w.parent.columns).join(', ')} through the mappings of ${waiting
    .map((w) => `${w.parent.sourceTable} → ${w.parent.targetTable} (${w.why})`)
    .join('; ')}; those mappings exist only once the parent runs for real, so this plan's references cannot be checked now. Nothing was written`;
  const { run } = await input.store.createRun({ plan, mode: 'dry_run', startedBy: input.startedBy });
  const record = await input.store.finishRun(run.id, { status: 'failed', errorCode: PARENT_ONLY_DRY_RUN, error: reason, outcome: { notChecked: true, parents: waiting.map((w) => w.parent) } });
  return { plan, notChecked: { record, reason, parents: waiting.map((w) => `${w.parent.sourceTable} → ${w.parent.targetTable}`) } };
}

export async function executeRunSet(input: RunSetInput): Promise<PlanSetOutcome> {
  const say = input.say ?? (() => {});
  const dryRun = input.dryRun === true;
  const steps: PlanSetStep[] = [];
  // Dry runs: table pairs of this set whose mappings are not all there (the plan would still write rows, or did not run).
  const unwritten = new Map<string, string>();
  const pairOf = (plan: MigrationPlan) => {
    const t = planTables(plan);
    return `${t.sourceTable}→${t.targetTable}`;
  };
  for (const [i, p] of input.plans.entries()) {
    say(`▶ ${i + 1}/${input.plans.length}: ${p.plan.source.table} → ${p.plan.target.table} (${p.plan.id})${dryRun ? ', dry run' : ''}`);
    const notChecked = dryRun ? await dryRunWithoutParents(input, p.plan, unwritten) : null;
    if (notChecked) {
      steps.push(notChecked);
      unwritten.set(pairOf(p.plan), 'not dry-run either');
      continue;
    }
    let created: RunRow | null = null;
    try {
      const program = await prepareProgram({ plan: p.plan, analysis: p.analysis, dir: p.dir, say });
      const onEvent = input.onEvent;
      const outcome = await executeRun({
        store: input.store,
        plan: p.plan,
        analysis: p.analysis,
        conn: input.conn,
        driver: input.driver,
        policy: input.policy,
        workDir: p.dir,
        program,
        startedBy: input.startedBy,
        dryRun,
        ...(input.parallel === undefined ? {} : { parallel: input.parallel }),
        onCreated: (run) => {
          created = run;
        },
        ...(onEvent ? { onEvent: (e: RunEvent, runId: number, seq: number) => onEvent(p.plan, e, runId, seq) } : {}),
        say,
        ...(input.logger ? { logger: input.logger } : {}),
        asUser: input.asUser ?? null,
        dataApi: input.dataApi,
      });
      // No onceKey is passed, so every call records a new run.
      if (!outcome.created) throw new Error('a plan set run without onceKey found an earlier run');
      const { run: record, result, report, warnings } = outcome;
      steps.push({ plan: p.plan, result: { record, run: result, report, warnings } });
      if (dryRun) {
        if (result.status !== 'completed') unwritten.set(pairOf(p.plan), `its dry run failed: ${result.errorCode}`);
        else if (result.inserted > 0) unwritten.set(pairOf(p.plan), `only dry-run here, ${result.inserted} row(s) still to write`);
        continue;
      }
      if (result.status !== 'completed' || report?.status !== 'passed') return { status: 'failed', dryRun, steps, stoppedAt: p.plan };
    } catch (e) {
      if (!(e instanceof FerryError) || e.category !== 'user') throw e;
      const record = created as RunRow | null;
      steps.push({ plan: p.plan, refused: e, record: record ? await input.store.getRun(record.id) : null });
      if (!dryRun) return { status: 'failed', dryRun, steps, stoppedAt: p.plan };
      unwritten.set(pairOf(p.plan), `refused: ${e.code}`);
    }
  }
  const ok = steps.every((s) => 'result' in s && s.result.run.status === 'completed' && (dryRun || s.result.report?.status === 'passed'));
  return { status: ok ? 'completed' : 'failed', dryRun, steps };
}
