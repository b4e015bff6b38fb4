import { defaultPolicy } from '../../../sandbox/policy.js';
import { startEarly } from '../../../sandbox/index.js';
import { InputError } from '../../core/errors.js';
import { parseAsUser } from '../../target/app-visibility.js';
import { defineCommand, HELP_FLAG, optionalPositiveInteger, type CommandContext } from '../args.js';
import { queueSettings } from '../../queue/settings.js';
import { URL_FLAGS, WEAK_SANDBOX_FLAG, withUrls } from '../url-flags.js';
import { RunPhases } from '../run-phases.js';
import { runGrowingPercent, tuneHeap } from '../heap.js';
import { createLogger, logsInfo } from '../../logger.js';
import { SUMMARIES } from './registry.js';
import { step } from '../../core/steps.js';
import type { RunOptions } from '../run-command.js';

/**
 * `ferry run`: this module is what the command's start loads (its flags, and the sandbox's
 * early start); the run itself is in ../run-command.ts, imported once the container is on its way.
 */
type Say = CommandContext['say'];

/** The pool's logger, made on its first warning: pino's load is not paid by a run with none. */
function lazyLogger(level: string): { warn(fields: Record<string, unknown>, message: string): void } {
  let logger: ReturnType<typeof createLogger> | undefined;
  return { warn: (fields, message) => (logger ??= createLogger(level)).warn(fields, message) };
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

/** How long a run waits at most for its containers' start to be asked before it loads its machinery. */
const EARLY_LAUNCH_WAIT_MS = 150;

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
    // One process, one run of `parallel` ranges: the heap may keep more garbage waiting (heap.ts).
    tuneHeap(process.execArgv, process.env.NODE_OPTIONS, runGrowingPercent(parallel));
    const config = withUrls(loadConfig(), v);
    if (logsInfo(config.logLevel)) phases.recordSteps();
    const o: RunOptions = { ref: positionals[0] ?? '', dryRun: v['dry-run'] === true, parallel, approve: v.approve === true, by: v.by, allowWeak: v['allow-weak-sandbox'] === true, asUser: parseAsUser(v['as-user']) };
    // The sandbox chosen and its containers (one per --parallel range) started now, while the
    // plan loads, the connections open and the program is prepared: off the critical path.
    // FERRY_SANDBOX_POOL=0 turns warm containers off here too (each range then starts cold).
    const early = startEarly({ prefer: config.sandbox, allowWeak: o.allowWeak, node: config.sandboxNode, pool: config.sandboxPool.size === 0 ? 0 : parallel, policy: defaultPolicy, idleTimeoutMs: config.sandboxPool.idleTimeoutMs, logger: lazyLogger(config.logLevel) });
    try {
      step('startEarly');
      // The container's create, attach and start go out first (tens of ms on a quiet main
      // thread), so the daemon starts it while the machinery below compiles; capped, so a slow
      // daemon does not hold the run.
      await early.launching(EARLY_LAUNCH_WAIT_MS);
      step('launching');
      // The run's machinery is loaded now, while the daemon makes the container; zod is told
      // to interpret its schemas before any of them is built (see ../zod-config.ts, registry.ts).
      (await import('../zod-config.js')).interpretSchemas();
      const { runCommand } = await import('../run-command.js');
      return await runCommand(config, o, say, early, phases);
    } finally {
      phases.stop();
      await early.close();
    }
  },
});
