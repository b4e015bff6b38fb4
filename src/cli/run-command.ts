/**
 * `ferry run` of one plan or a plan set, once the command's flags are good and its sandbox
 * has started early (commands/run.ts): loaded by the command after that start, so the run's
 * machinery loads while the daemon makes the container.
 */
import { defaultPolicy } from '../../sandbox/policy.js';
import type { EarlySandbox } from '../../sandbox/index.js';
import { openConnections, type Connections } from '../connections.js';
import { prepareProgram } from '../run/program.js';
import { connectionOptions, requireUrl, type FerryConfig } from '../config.js';
import { reviewItems } from '../core/artifacts/migration-plan.js';
import { PlanError } from '../core/errors.js';
import { assertNoDrift, readDriftCatalogs } from '../orchestrator/drift.js';
import { REPLAY_ROW_LIMIT } from '../orchestrator/run-migration.js';
import { renderReport } from '../present/render.js';
import { runEventPrinter, sandboxChoiceLine, warningLine } from '../present/run-events.js';
import { executeRun, type RunOutcome } from '../run/execute-run.js';
import { storeBeside, withStore } from '../service/commands.js';
import { saveJson } from '../store/file-store.js';
import { storeBundlePins } from '../store/bundle-pins.js';
import type { RunStore } from '../store/run-store.js';
import type { CommandContext } from './args.js';
import { approvedTransforms } from './plan-transforms.js';
import { isPlanSetFile } from './plan-set-file.js';
import { loadPlanWithAnalysis, withConnections, type LoadedPlan } from './shared.js';
import type { RunPhases } from './run-phases.js';
import { createLogger, logsInfo } from '../logger.js';
import { step } from '../core/steps.js';

type Say = CommandContext['say'];
export interface RunOptions { ref: string; dryRun: boolean; parallel: number; approve: boolean; by: string | undefined; allowWeak: boolean; asUser: string | null }

async function runSet(config: FerryConfig, o: RunOptions, say: Say, early: EarlySandbox): Promise<number> {
  // A plan set's machinery (its file, its order, its dry run) is loaded for a set only.
  const { runPlanSet } = await import('./plan-set-command.js');
  return withConnections(config, async (conn) => {
    const choice = await early.choice();
    say(sandboxChoiceLine(choice));
    const onEvent = runEventPrinter(say);
    return withStore(config, (store) =>
      runPlanSet({ path: o.ref, store, conn, driver: choice.driver, policy: defaultPolicy, startedBy: config.user, dryRun: o.dryRun, parallel: o.parallel, onEvent, say, asUser: o.asUser, dataApi: config.dataApi }),
    );
  });
}

/** A plan not approved is refused, or approved first with --approve (which still refuses open review items). */
async function approvedPlan(config: FerryConfig, loaded: LoadedPlan, o: RunOptions, say: Say): Promise<LoadedPlan['plan']> {
  const plan = loaded.plan;
  if (plan.status === 'approved') return plan;
  if (!o.approve) {
    const items = reviewItems(plan);
    throw new PlanError('PLAN_NOT_APPROVED', `plan ${plan.id} revision ${plan.revision} is ${plan.status}, not approved`, {
      hint: items.length ? `first resolve: ${items.join(' | ')}` : `review it (ferry show ${o.ref}), then ferry approve ${o.ref} — or ferry run --approve`,
    });
  }
  // The planning agent is loaded for this only (--approve): a plain run does not need it.
  const { approvePlan } = await import('../../agents/planning/index.js');
  const approved = approvePlan(plan, o.by ?? config.user);
  await withStore(config, (store) => store.savePlan(approved, loaded.analysis, { by: approved.approvedBy ?? config.user }));
  await saveJson(loaded.paths.plan, approved);
  say(`✅ approved by ${approved.approvedBy}`);
  return approved;
}

async function runOne(config: FerryConfig, opened: Opened, store: RunStore, loaded: LoadedPlan, plan: LoadedPlan['plan'], o: RunOptions, say: Say, phases: RunPhases, early: EarlySandbox): Promise<RunOutcome> {
  const { conn } = opened;
  phases.mark('connect');
  assertNoDrift(plan, loaded.analysis, await opened.catalogs);
  step('drift');
  const choice = await early.choice();
  step('sandboxChoice');
  const transforms = await approvedTransforms({ planPath: loaded.paths.plan, plan, store, say });
  step('transforms');
  const program = await prepareProgram({
    plan, analysis: loaded.analysis, dir: loaded.paths.bundleDir, say, nodeMajor: config.sandboxNode.major, pins: storeBundlePins(store), ...(transforms ? { transforms } : {}),
  });
  say(`   program: ${program.programPath}`);
  say(sandboxChoiceLine(choice));
  phases.mark('prepareProgram');
  const print = runEventPrinter(say);
  // The approval is the store's, recorded once by ferry approve; executeRun checks this plan is it.
  return executeRun({
    store, plan, analysis: loaded.analysis, conn, driver: choice.driver, policy: defaultPolicy, workDir: loaded.paths.bundleDir, program,
    startedBy: config.user, dryRun: o.dryRun, parallel: o.parallel, asUser: o.asUser, dataApi: config.dataApi, onEvent: (e) => { phases.onEvent(e); print(e); }, say,
  });
}

/** The run's connections, and the plan's tables as both catalogs have them (the drift check's). */
interface Opened {
  conn: Connections;
  catalogs: ReturnType<typeof readDriftCatalogs>;
}

/**
 * Both databases, opened now, and the catalogs of the plan's tables read as soon as both the
 * connections and the plan are there: the drift check's reads go on beside the plan's loading
 * and the run store's approval check instead of after them. take()
 * hands them over; dispose() closes them unless they were taken (then their taker closes
 * them). A failure to open (or to read a catalog) is told by take() (or by the drift check),
 * not before.
 */
function openBeside(config: FerryConfig, loading: Promise<LoadedPlan>): { take(): Promise<Opened>; dispose(): Promise<void> } {
  const opening = (async () => openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config)))();
  const reading = opening.then((conn) => {
    const catalogs = loading.then((loaded) => readDriftCatalogs(conn, [loaded.plan]));
    catalogs.catch(() => undefined);
    return { conn, catalogs };
  });
  reading.catch(() => undefined);
  let taken = false;
  return {
    take: () => {
      taken = true;
      return reading;
    },
    dispose: async () => {
      if (taken) return;
      // Its catalog reads settle first: a connection is not closed under a query of its own.
      await reading.then(async (o) => {
        await o.catalogs.catch(() => undefined);
        await o.conn.close();
      }, () => undefined);
    },
  };
}

/** What the run did, for the person; the exit code. */
function reportOutcome(recorded: RunOutcome, say: Say): number {
  // No onceKey: every CLI run is a new record.
  if (!recorded.created) throw new Error(`run ${recorded.run.id} was already recorded`);
  const { result: run, report } = recorded;
  for (const w of recorded.warnings) say(warningLine(w));
  const id = recorded.run.id;
  if (run.dryRun) {
    say(`${run.status === 'completed' ? '🔎 dry run completed' : `❌ dry run failed: ${run.errorCode}: ${run.error}`}: ${run.inserted} rows would be written, ${run.skipped} already migrated; every batch was rolled back`);
    say(run.digested ? `   rows checksum ${run.rowsChecksum} (run ${id}; ferry runs show ${id})` : `   no rows checksum: more than ${REPLAY_ROW_LIMIT.toLocaleString('en-US')} rows (run ${id}; ferry runs show ${id})`);
    return run.status === 'completed' ? 0 : 1;
  }
  say(`   recorded as run ${id} (ferry runs show ${id}; ferry replay ${id})`);
  if (run.status === 'failed') {
    say(`❌ migration ${run.migrationId} failed: ${run.errorCode}: ${run.error}`);
    say(`   nothing of the failed batch was written; ${run.inserted} rows from earlier batches stay (roll back with: ferry rollback ${run.migrationId})`);
    return 1;
  }
  say(`✅ migration ${run.migrationId} completed: ${run.inserted} inserted, ${run.skipped} already migrated (skipped)${run.inserted === 0 ? ' — nothing new to move' : ''}`);
  if (run.sandbox) say(`   sandbox: ${run.sandbox.driver}, startup ${run.sandbox.startupMs ?? '?'} ms, peak memory ${run.sandbox.peakMemoryBytes === null ? 'unknown' : `${(run.sandbox.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB`}, exit ${run.sandbox.exitReason}`);
  if (report) say(renderReport(report));
  return report?.status === 'failed' ? 1 : 0;
}

/** The run (or the plan set), its record and report told; the exit code. */
export async function runCommand(config: FerryConfig, o: RunOptions, say: Say, early: EarlySandbox, phases: RunPhases): Promise<number> {
  if (await isPlanSetFile(o.ref)) return await runSet(config, o, say, early);
  // The plan loads while the run's connections open (the drift check then reads only its
  // tables), beside the run store's; the connections are used (and their failure told) only
  // once the store holds the approval, so a refusal comes first, as before.
  const loading = loadPlanWithAnalysis(o.ref, config);
  loading.catch(() => undefined);
  const connections = openBeside(config, loading);
  // The run store opens beside them too; its failure is told after the plan's own refusals.
  const storeOpening = storeBeside(config);
  // The run's connections close beside the run store's, once the run is recorded.
  let closing: Promise<void> = Promise.resolve();
  // Info level: pino is loaded for the phase log now, while the databases answer, not after the run.
  const phaseLog = logsInfo(config.logLevel) ? createLogger(config.logLevel) : null;
  const recorded = await (async () => {
    const loaded = await loading;
    step('readPlan');
    const plan = await approvedPlan(config, loaded, o, say);
    // One run store connection for the whole run. Before any work: the store holds an approval
    // for exactly this content (PLAN_TAMPERED / PLAN_NOT_APPROVED).
    const store = await storeOpening.take();
    try {
      step('storeOpen');
      await store.approvedHash(plan);
      step('approvedHash');
      phases.mark('loadPlan');
      const opened = await connections.take();
      try {
        return await runOne(config, opened, store, loaded, plan, o, say, phases, early);
      } finally {
        closing = opened.catalogs.then(() => undefined, () => undefined).then(() => opened.conn.close());
      }
    } finally {
      await store.close();
    }
  })().finally(async () => {
    await closing;
    await Promise.all([connections.dispose(), storeOpening.dispose()]);
  });
  // Validation and the run's record, after the stream: the rest of executeRun.
  phases.mark('validate');
  // Info level only (FERRY_LOG_LEVEL=info, as bench:seed runs it): pino is not loaded otherwise.
  phaseLog?.info({ phasesMs: phases.values, ...phases.details, runId: recorded.run.id }, 'ferry run phases');
  return reportOutcome(recorded, say);
}
