import { approvePlan } from '../../../agents/planning/index.js';
import { readCatalogs } from '../../../agents/schema-analysis/index.js';
import { defaultPolicy } from '../../../sandbox/policy.js';
import { startEarly, type EarlySandbox } from '../../../sandbox/index.js';
import { openConnections, prepareProgram, type Connections } from '../../chain.js';
import { connectionOptions, requireUrl, type FerryConfig } from '../../config.js';
import { reviewItems } from '../../core/artifacts/migration-plan.js';
import { InputError, PlanError } from '../../core/errors.js';
import { assertNoDrift } from '../../orchestrator/drift.js';
import { REPLAY_ROW_LIMIT } from '../../orchestrator/run-migration.js';
import { renderReport } from '../../present/render.js';
import { runEventPrinter, sandboxChoiceLine, warningLine } from '../../present/run-events.js';
import { executeRun, type RunOutcome } from '../../run/execute-run.js';
import { withStore } from '../../service/commands.js';
import { saveJson } from '../../store/file-store.js';
import { storeBundlePins } from '../../store/bundle-pins.js';
import type { RunStore } from '../../store/run-store.js';
import { parseAsUser } from '../../target/app-visibility.js';
import { defineCommand, HELP_FLAG, optionalPositiveInteger, type CommandContext } from '../args.js';
import { approvedTransforms } from '../plan-command.js';
import { isPlanSetFile, runPlanSet } from '../plan-set-command.js';
import { queueSettings } from '../../queue/settings.js';
import { loadPlanWithAnalysis, URL_FLAGS, WEAK_SANDBOX_FLAG, withConnections, withUrls, type LoadedPlan } from '../shared.js';
import { RunPhases } from '../run-phases.js';
import { createLogger, logsInfo } from '../../logger.js';
import { SUMMARIES } from './registry.js';
import { step } from '../../core/steps.js';

type Say = CommandContext['say'];
interface RunOptions { ref: string; dryRun: boolean; parallel: number; approve: boolean; by: string | undefined; allowWeak: boolean; asUser: string | null }

async function runSet(config: FerryConfig, o: RunOptions, say: Say, early: EarlySandbox): Promise<number> {
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
  const approved = approvePlan(plan, o.by ?? config.user);
  await withStore(config, (store) => store.savePlan(approved, loaded.analysis, { by: approved.approvedBy ?? config.user }));
  await saveJson(loaded.paths.plan, approved);
  say(`✅ approved by ${approved.approvedBy}`);
  return approved;
}

async function runOne(config: FerryConfig, conn: Connections, store: RunStore, loaded: LoadedPlan, plan: LoadedPlan['plan'], o: RunOptions, say: Say, phases: RunPhases, early: EarlySandbox): Promise<RunOutcome> {
  phases.mark('connect');
  assertNoDrift(plan, loaded.analysis, await readCatalogs({ source: conn.source, target: conn.target }));
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

/**
 * Both databases, opened now and handed over by take(); dispose() closes them unless they were
 * taken (then their taker closes them). A failure to open is told by take(), not before.
 */
function openBeside(config: FerryConfig): { take(): Promise<Connections>; dispose(): Promise<void> } {
  const opening = (async () => openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config)))();
  opening.catch(() => undefined);
  let taken = false;
  return {
    take: () => {
      taken = true;
      return opening;
    },
    dispose: async () => {
      if (!taken) await opening.then((c) => c.close(), () => undefined);
    },
  };
}

/** The pool's logger, made on its first warning: pino's load is not paid by a run with none. */
function lazyLogger(level: string): { warn(fields: Record<string, unknown>, message: string): void } {
  let logger: ReturnType<typeof createLogger> | undefined;
  return { warn: (fields, message) => (logger ??= createLogger(level)).warn(fields, message) };
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

/** --queue: the flags it does not take are refused, not ignored. */
function queued(v: Record<string, unknown>, positionals: string[], say: Say, loadConfig: CommandContext['loadConfig']): Promise<number> {
  for (const flag of ['dry-run', 'parallel', 'approve', 'as-user', 'allow-weak-sandbox']) {
    if (v[flag] !== undefined) {
      throw new InputError('CLI_FLAG_INVALID', `--queue does not take --${flag}`, {
        hint: flag === 'approve' ? 'approve first (ferry approve <plan>), then queue it' : flag === 'parallel' ? 'use --partitions <n>: key ranges as jobs for workers' : 'run without --queue for that',
      });
    }
  }
  const partitions = optionalPositiveInteger('--partitions', v.partitions as string | undefined, 4, { max: 64, hint: 'e.g. --partitions 12: twelve key ranges, twelve jobs' });
  const config = withUrls(loadConfig(), v as { source?: string; target?: string });
  // Loaded only for --queue: pg-boss is a good part of a plain run's start otherwise.
  return import('../queue-run.js').then(({ runQueued }) =>
    runQueued(config, { ref: positionals[0] ?? '', partitions, detach: v.detach === true, settings: queueSettings(process.env) }, say),
  );
}

export const runCmd = defineCommand({
  name: 'run',
  summary: SUMMARIES.run,
  usage: `ferry run <plan.json|plan set.json|plan id> [--dry-run] [--parallel <n>] [--approve [--by <name>]] [--allow-weak-sandbox] [--as-user <uuid>] [--source <url>] [--target <url>]
ferry run <plan.json|plan set.json|plan id> --queue [--partitions <n>] [--detach]`,
  flags: {
    ...HELP_FLAG,
    'dry-run': { type: 'boolean', help: 'do everything but roll back each batch; print the checksum of the rows it would write' },
    parallel: { type: 'string', value: '<n>', help: 'key ranges run side by side, each in its own sandbox (1 to 32, default 1)' },
    queue: { type: 'boolean', help: 'queue each plan\'s key ranges as jobs for ferry worker processes (any host), and follow the run' },
    partitions: { type: 'string', value: '<n>', help: 'with --queue: key ranges (jobs) per plan (1 to 64, default 4)' },
    detach: { type: 'boolean', help: 'with --queue: return once the jobs are queued, with the run ids' },
    approve: { type: 'boolean', help: 'approve the plan first (still refuses anything needing review)' },
    by: { type: 'string', value: '<name>', help: 'who approves, with --approve (default the user name)' },
    'as-user': { type: 'string', value: '<uuid>', help: "the user id authenticated reads as in the report's app-visibility section" },
    ...WEAK_SANDBOX_FLAG,
    ...URL_FLAGS,
  },
  details: `--dry-run: everything a run does (sandbox, row checks, each batch written) but each batch's
transaction is rolled back; prints the checksum of the rows it would write.
--parallel <n>: split the source into n key ranges of about equal size, each run in its own
sandbox container with its own connections, all reading one snapshot (default 1).

Refuses a plan that is not approved (or approves it first with --approve, which still
refuses anything needing review). Generates the program, type-checks it, bundles it, runs it
in the Docker sandbox, writes each batch with its mappings in one transaction, validates.
Running it again migrates only rows that have no mapping yet: a run that failed or died
(killed, connection lost) is resumed after its committed batches, and marked failed.
A plan that resolves references through a parent migration refuses to run until that parent
has been migrated. Given a plan set, runs its plans in order, each recorded like a single
run (--dry-run and --parallel apply to each), and stops at the first failure. A dry run of a
set goes through every plan and writes nothing; a child whose parent would still write rows
is not dry-run (its parent's mappings do not exist yet): PARENT_ONLY_DRY_RUN, exit code 1.
--queue: each plan's key ranges (--partitions, default 4) become jobs on the job queue in the
run store's database; \`ferry worker\` processes on any hosts claim and run them, a child plan's
ranges only once its parent completed. Follows the run (progress, rows/s, ETA over every range),
validates each table once at the end, exits with the run's result; --detach returns at once.`,
  async run({ values: v, positionals }, { say, loadConfig }) {
    if (v.queue === true) return queued(v, positionals, say, loadConfig);
    if (v.partitions !== undefined || v.detach === true) {
      throw new InputError('CLI_FLAG_INVALID', '--partitions and --detach go with --queue', { hint: 'ferry run <plan> --queue --partitions 8 [--detach]; without --queue, --parallel <n> splits the run in this process' });
    }
    const phases = new RunPhases();
    const parallel = optionalPositiveInteger('--parallel', v.parallel, 1, { max: 32, hint: 'e.g. --parallel 4: four key ranges, four sandbox containers' });
    const config = withUrls(loadConfig(), v);
    if (logsInfo(config.logLevel)) phases.recordSteps();
    const o: RunOptions = { ref: positionals[0] ?? '', dryRun: v['dry-run'] === true, parallel, approve: v.approve === true, by: v.by, allowWeak: v['allow-weak-sandbox'] === true, asUser: parseAsUser(v['as-user']) };
    // The sandbox chosen and its containers (one per --parallel range) started now, while the
    // plan loads, the connections open and the program is prepared: off the critical path.
    // FERRY_SANDBOX_POOL=0 turns warm containers off here too (each range then starts cold).
    const early = startEarly({ prefer: config.sandbox, allowWeak: o.allowWeak, node: config.sandboxNode, pool: config.sandboxPool.size === 0 ? 0 : parallel, policy: defaultPolicy, idleTimeoutMs: config.sandboxPool.idleTimeoutMs, logger: lazyLogger(config.logLevel) });
    try {
      step('startEarly');
      if (await isPlanSetFile(o.ref)) return await runSet(config, o, say, early);
      const loaded = await loadPlanWithAnalysis(o.ref, config);
      step('readPlan');
      const plan = await approvedPlan(config, loaded, o, say);
      // One run store connection for the whole run. Before any work: the store holds an approval
      // for exactly this content (PLAN_TAMPERED / PLAN_NOT_APPROVED).
      // The run's connections open beside the run store's; used (and their failure told) only
      // once the store holds the approval, so a refusal comes first, as before.
      const connections = openBeside(config);
      const recorded = await withStore(config, async (store) => {
        step('storeOpen');
        await store.approvedHash(plan);
        step('approvedHash');
        phases.mark('loadPlan');
        const conn = await connections.take();
        try {
          return await runOne(config, conn, store, loaded, plan, o, say, phases, early);
        } finally {
          await conn.close();
        }
      }).finally(() => connections.dispose());
      // Validation and the run's record, after the stream: the rest of executeRun.
      phases.mark('validate');
      // Info level: pino is loaded for it only when that level is on (FERRY_LOG_LEVEL=info, as bench:seed runs it).
      if (logsInfo(config.logLevel)) createLogger(config.logLevel).info({ phasesMs: phases.values, ...phases.details, runId: recorded.run.id }, 'ferry run phases');
      return reportOutcome(recorded, say);
    } finally {
      phases.stop();
      await early.close();
    }
  },
});
