#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { join, resolve } from 'node:path';
import { applyOverrides, approvePlan, type PlanOverrides } from '../../agents/planning/index.js';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import { MigrationPlan, reviewItems } from '../core/artifacts/migration-plan.js';
import { analysisHash, SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { openConnections, prepareProgram, targetTableOf, type Say } from '../chain.js';
import { loadModelConfig } from '../core/llm/config.js';
import { approvedTransforms, descriptionForReplay, llmMode, modelSummary, planCommand, transcriptPath, transformHashes, transformsFor } from './plan-command.js';
import { connectionOptions, loadConfig, requireUrl, sandboxNodeSetting, type FerryConfig } from '../config.js';
import { describeStatus, getControl, listControls } from '../control/control-tables.js';
import { createPlanProbe } from '../db/plan-probe.js';
import { describeError, FerryError, InputError, PlanError } from '../core/errors.js';
import { assertNoDrift } from '../orchestrator/drift.js';
import { rollbackMigration } from '../orchestrator/rollback.js';
import { REPLAY_ROW_LIMIT, type RunEvent } from '../orchestrator/run-migration.js';
import { formatProgress } from '../orchestrator/progress.js';
import { loadArtifact, planFilePath, planPaths, saveJson } from '../store/file-store.js';
import { validateMigration } from '../validation/validate.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { buildOfflineImage } from '../../sandbox/image.js';
import { renderPlan, renderReport } from '../present/render.js';
import { chooseDriver } from '../../sandbox/index.js';
import { hasStore, isStoredPlanRef, listRecordedRuns, replayCommand, runIdArg, showRun, storedPlanPaths, withStore } from '../service/commands.js';
import { executeRun } from '../run/execute-run.js';
import { parsePort, serveCommand } from '../service/serve.js';
import { reviewCommand } from './review-command.js';
import { terminalLines } from '../terminal-text.js';
import { approvePlanSet, isPlanSetFile, namesSeveralTables, planSetCommand, runPlanSet, showPlanSet } from './plan-set-command.js';
import { parseAsUser } from '../target/app-visibility.js';

// Every line goes through terminalText: data and sandbox logs must not drive the terminal.
const say: Say = terminalLines(process.stdout);

const HELP = `ferry — move a table from a legacy PostgreSQL into a new PostgreSQL/Supabase schema, safely.

Usage: ferry <command> [options]

Commands
  plan "<description>"     analyse both databases and write a reviewable plan
  show <plan.json>         print a plan: columns, enum mapping, FK decision, risk, review items
  approve <plan.json>      resolve flagged values (--map/--fk/--column) and approve
  review <plan>            resolve flagged values and approve, question by question
  run <plan.json>          generate, type-check and run the program in the sandbox, then validate
  validate <migration-id>  re-check a run: counts, mappings, every row, distribution, FKs
  rollback <migration-id>  delete exactly the rows a run inserted, with their mappings
  runs                     list recorded runs (migration_control)
  runs show <run>          a recorded run's timeline, logs, checksums and validation report
  replay <run>             run a recorded run's bundle and plan again, dry, and compare
  serve [--port N] [--demo] the HTTP API (/api) and the review page (/)
  sandbox <build-image|policy|ps|gc>
                           build the offline sandbox image, print the policy, list/remove leftovers

Environment
  SOURCE_DATABASE_URL      the legacy database (read in one read-only snapshot)
  TARGET_DATABASE_URL      the new database (for Supabase: the direct or session-pooler URL)
  FERRY_HOME               where plans and programs are kept (default ./.ferry)
  FERRY_SANDBOX            docker (default) or local (weaker; needs --allow-weak-sandbox)
  FERRY_LOG_LEVEL          JSON log level on stderr (default warn)
  ANTHROPIC_API_KEY        plan with Claude (ferry plan --llm claude); ANTHROPIC_BASE_URL to redirect
  FERRY_MODEL              the model (default claude-sonnet-4-5); FERRY_MODEL_TIMEOUT_MS (120000),
                           FERRY_MODEL_MAX_RETRIES (4), FERRY_MODEL_TOKEN_BUDGET per plan (200000)
  FERRY_STATE_URL          where the run store (schema ferry) lives (default: the target)

Run "ferry <command> --help" for a command's options. Try the whole chain with: npm run demo`;

const COMMAND_HELP: Record<string, string> = {
  plan: `ferry plan "<description>" [--out <plan.json>] [--source <url>] [--target <url>]
           [--llm claude|off] [--replay <plan.model.json>] [--annotate]

Analyses both databases (catalogs, keys, FKs, enums, value profiles), reads source table,
filter and target table from the description, and writes the plan (draft) as JSON with the
analysis beside it.

--llm claude (the default when ANTHROPIC_API_KEY is set): Claude reads a description in any
words ("move group 11's roles over, technicians only, keep the old ids, everything active");
its proposal is checked against the analysis and the rules, disagreements go to review. The
model exchange is kept beside the plan (<plan>.model.json); model, tokens and cost are printed.
--replay <plan.model.json>: make the plan again from that exchange, without the network.
--annotate: first let Claude classify tables and explain unclear columns (advice only: the
catalog facts and the rules' classification stand; notes are marked as the model's).

--llm off (the default without a key): the rules read the description. Example:
  ferry plan "Migrate the technician roles of group 11 from dispatch_role into technician_roles"
The description names tables with "from <table>" and "into <table>"; filters as
"of group 11" or "where group_id = 11".

Several tables at once: "move employees, then customers, then invoices" (or "employees,
customers and invoices"; "employees into staff" names another target). One plan per table,
ordered parents first over the FK graph (a cycle is refused), and a plan set file listing
them; approve and run the plan set like a plan. A reference to a migrated parent is resolved
through that parent's migration_mappings.`,
  show: `ferry show <plan.json> [--json]

Prints the plan as a person reviews it (or the JSON with --json).`,
  approve: `ferry approve <plan.json> [--map "<source value>=<enum value>"]... [--fk <column>=<id>]...
                [--column <target>=<source column>|const:<value>|default]... [--by <name>]
                [--orphans <column>=set_null|fail]...
ferry approve <plan set.json> [--by <name>]

Applies the overrides (each one checked against the data: enum values must exist, parent
rows must exist), then approves. Refuses while anything still needs review.
--orphans: what a reference with no parent mapping (an orphan in the legacy data) becomes:
set_null (only where the target column is nullable) or fail (the run stops, naming it).`,
  run: `ferry run <plan.json|plan id> [--dry-run] [--parallel <n>] [--approve] [--allow-weak-sandbox] [--as-user <uuid>] [--source <url>] [--target <url>]

--dry-run: everything a run does (sandbox, row checks, each batch written) but each batch's
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
is not dry-run (its parent's mappings do not exist yet): PARENT_ONLY_DRY_RUN, exit code 1.`,
  validate: `ferry validate <migration-id> [--json] [--as-user <uuid>]

Re-derives every migrated row from its source row and compares; checks counts, mappings
both ways, the enum distribution and FK integrity. Exit code 1 when a check fails.
On a target with Supabase's roles, also reports what anon, authenticated and service_role
can read of the run's rows (information, never a failure); --as-user gives authenticated a
user id (the JWT's sub, what auth.uid() returns). ferry run takes --as-user too.`,
  rollback: `ferry rollback <migration-id> [--batch <n>] [--cascade]

Deletes exactly the rows that run inserted (through its mappings), its mappings, and marks
the run rolled_back. One transaction: all or nothing. Refused while rows of other runs point
at this run's rows; --cascade rolls those runs back first, latest first.`,
  runs: `ferry runs [--limit <n>]
ferry runs show <run>

Lists runs recorded in the target's migration_control; "show" prints one run of the run
store: its timeline and logs, what it ran (plan, bundle, image), checksums, validation report.`,
  review: `ferry review <plan.json|plan id> [--by <name>]

Prints the plan, asks for each flagged enum value and FK choice (a number or a name; empty
skips), makes the new revision (every choice checked against the data), then asks whether
to approve, leave a draft, or reject. Answers may be piped to stdin, one per line.`,
  serve: `ferry serve [--port <n>] [--demo] [--allow-weak-sandbox]

Serves the HTTP API under /api (GET /api/plans, POST /api/describe, …) and the review page
at /, on 127.0.0.1. Every API route needs Authorization: Bearer <token>: FERRY_API_TOKEN
when set, else a token generated at first start and printed once. --demo serves embedded
demo databases with the case study's plan waiting for review. Default port 7340.`,
  replay: `ferry replay <run> [--allow-weak-sandbox]

Runs the recorded bundle and plan of a run again in a fresh sandbox, as a dry run over the
same legacy keys (the target transaction is rolled back), and compares the checksum of the
rows it would write with the recorded one: "reproduced", or what differs (source rows,
image, program) and why. Exit code 1 when it does not reproduce.`,
  sandbox: `ferry sandbox build-image [--node <version>]
                            build ferry-sandbox:node<major> offline, Node from the npm registry
                            (--node 20 or 20.19.5; default FERRY_SANDBOX_NODE, else 18)
ferry sandbox policy        print the container policy as JSON (Docker's field names)
ferry sandbox ps            list containers ferry started that still exist, with their run and owner
ferry sandbox gc [--all]    remove those whose orchestrator is gone (--all: every ferry container)`,
};

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  source: { type: 'string' },
  target: { type: 'string' },
  map: { type: 'string', multiple: true },
  fk: { type: 'string', multiple: true },
  column: { type: 'string', multiple: true },
  by: { type: 'string' },
  approve: { type: 'boolean' },
  'allow-weak-sandbox': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  parallel: { type: 'string' },
  port: { type: 'string' },
  demo: { type: 'boolean' },
  cascade: { type: 'boolean' },
  orphans: { type: 'string', multiple: true },
  batch: { type: 'string' },
  limit: { type: 'string' },
  llm: { type: 'string' },
  replay: { type: 'string' },
  annotate: { type: 'boolean' },
  all: { type: 'boolean' },
  node: { type: 'string' },
  'as-user': { type: 'string' },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function splitPair(raw: string, flag: string): [string, string] {
  const i = raw.lastIndexOf('=');
  if (i <= 0) throw new InputError('FLAG_INVALID', `--${flag} takes <left>=<right>, got "${raw}"`, { hint: `e.g. --${flag} "MT-Quality Check=manufacturing"` });
  return [raw.slice(0, i), raw.slice(i + 1)];
}

function overridesFrom(v: Values): PlanOverrides {
  return {
    map: (v.map ?? []).map((m) => {
      const [source, target] = splitPair(m, 'map');
      return { source, target };
    }),
    fk: (v.fk ?? []).map((m) => {
      const [column, value] = splitPair(m, 'fk');
      return { column, value };
    }),
    column: (v.column ?? []).map((m) => {
      const [target, origin] = splitPair(m, 'column');
      return { target, origin };
    }),
    orphans: (v.orphans ?? []).map((m) => {
      const [column, policy] = splitPair(m, 'orphans');
      return { column, policy };
    }),
  };
}

function withUrls(config: FerryConfig, v: Values): FerryConfig {
  return { ...config, sourceUrl: v.source ?? config.sourceUrl, targetUrl: v.target ?? config.targetUrl };
}

function migrationIdArg(raw: string | undefined): number {
  const id = Number(raw);
  if (!raw || !Number.isInteger(id) || id <= 0) throw new InputError('ARG_INVALID', `expected a migration id (a positive integer), got "${raw ?? ''}"`, { hint: 'list runs with: ferry runs' });
  return id;
}

async function loadPlanWithAnalysis(planPath: string, config: FerryConfig = loadConfig()) {
  if (isStoredPlanRef(planPath)) {
    // A plan id: the latest revision in the run store; files are kept beside it as usual.
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

let lastProgressLine = 0;

function printEvent(e: RunEvent): void {
  switch (e.type) {
    case 'started':
      say(`📝 Migration control record created: ${e.migrationId}`);
      say(
        `📊 ${e.sourceRows} source rows under the filter; ${e.alreadyMapped} already migrated; ${e.toMigrate} to migrate in batches of up to ${e.batchSize} rows (fewer when rows are wide)${e.parallel > 1 ? `, ${e.parallel} key ranges side by side` : ''}`,
      );
      break;
    case 'resumed':
      say(`♻️  resuming: run(s) ${e.abandoned.join(', ')} stopped without finishing and are now marked failed (RUN_ABANDONED); their ${e.alreadyMapped} committed rows are kept and skipped`);
      break;
    case 'sandbox_started':
      say(`📦 Sandbox started (${e.driver})${e.worker > 0 ? ` for key range ${e.worker + 1}` : ''}`);
      break;
    case 'batch_committed': {
      // Long runs commit hundreds of batches: one line per batch while few, then one every 2 s.
      const now = Date.now();
      if (e.batch <= 20 || now - lastProgressLine >= 2000 || e.done >= e.toMigrate) {
        lastProgressLine = now;
        say(`💾 batch ${e.batch}: ${e.rows} rows + ${e.rows} mappings committed · ${formatProgress({ ...e, total: e.toMigrate })}`);
      }
      break;
    }
    case 'log':
      say(`   │ ${e.line}`);
      break;
    case 'self_reference_resolved':
      say(`🔗 ${e.column}: second pass set ${e.updated} reference(s) through this table's mappings${e.orphans ? `; ${e.orphans} orphan(s) left NULL` : ''}`);
      break;
    case 'finished':
      break;
  }
}

function parallelOption(raw: string | undefined): number {
  if (raw === undefined) return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 32) {
    throw new InputError('ARG_INVALID', `--parallel expects a whole number from 1 to 32, got "${raw}"`, { hint: 'e.g. --parallel 4: four key ranges, four sandbox containers' });
  }
  return n;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new InputError('ARGS_INVALID', (cause as Error).message, { cause, hint: 'ferry --help lists the commands and options' });
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!command) {
    say(HELP);
    return v.help ? 0 : 2;
  }
  if (v.help) {
    say(COMMAND_HELP[command] ?? HELP);
    return COMMAND_HELP[command] ? 0 : 2;
  }
  const config = withUrls(loadConfig(), v);
  switch (command) {
    case 'plan': {
      const description = rest.join(' ').trim() || (v.replay ? await descriptionForReplay(resolve(v.replay)) : '');
      if (!description) throw new InputError('ARG_MISSING', 'ferry plan needs a description', { hint: COMMAND_HELP.plan!.split('\n')[0]! });
      const model = loadModelConfig();
      const claude = v.replay !== undefined || llmMode(v.llm, model) === 'claude';
      // With Claude the words are the model's to read (commas included); the rules' plan-set reading is for --llm off.
      if (!claude && namesSeveralTables(description)) {
        // "move employees, then customers, then invoices": one plan per table and a plan set.
        const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
        try {
          const set = await planSetCommand({ description, conn, plansDir: join(config.home, 'plans'), ...(v.out ? { out: v.out } : {}), say });
          if (set) return 0;
        } finally {
          await conn.close();
        }
      }
      const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
      try {
        const made = await planCommand({ description, conn, llm: v.llm, replay: v.replay === undefined ? undefined : resolve(v.replay), model, annotate: v.annotate === true, say });
        const { analysis, transcript } = made;
        // Stored first: planning the same move again makes the next revision, never overwrites one.
        const plan = hasStore(config) ? (await withStore(config, (store) => store.saveNewPlan(made.plan, analysis))).plan : made.plan;
        // --out is the person's own choice; a path made from the plan id must stay under FERRY_HOME.
        const out = v.out ? resolve(v.out) : planFilePath(config.home, plan.id);
        const paths = planPaths(out);
        await saveJson(paths.analysis, analysis);
        const hash = await saveJson(paths.plan, plan);
        if (transcript) await saveJson(transcriptPath(out), transcript);
        say('');
        say(renderPlan(plan));
        say('');
        say(`Plan written to ${out} (sha256 ${hash.slice(0, 12)}…); analysis beside it${transcript ? `, and the model exchange (${transcriptPath(out)})` : ''}.`);
        const modelLine = modelSummary(plan);
        if (modelLine) say(modelLine);
        say(reviewItems(plan).length ? `Next: resolve the flagged items, then: ferry approve ${out} …` : `Next: ferry approve ${out} && ferry run ${out}`);
      } finally {
        await conn.close();
      }
      return 0;
    }
    case 'show': {
      if (await isPlanSetFile(rest[0] ?? '')) {
        await showPlanSet(rest[0]!, say);
        return 0;
      }
      const { plan } = await loadPlanWithAnalysis(rest[0] ?? '');
      say(v.json ? JSON.stringify(plan, null, 2) : renderPlan(plan));
      return 0;
    }
    case 'approve': {
      if (await isPlanSetFile(rest[0] ?? '')) {
        await withStore(config, (store) => approvePlanSet(rest[0]!, v.by ?? config.user, store, say));
        return 0;
      }
      const { paths, plan, analysis } = await loadPlanWithAnalysis(rest[0] ?? '', config);
      const by = v.by ?? config.user;
      const o = overridesFrom(v);
      let next = plan;
      if ((o.map?.length ?? 0) + (o.fk?.length ?? 0) + (o.column?.length ?? 0) + (o.orphans?.length ?? 0) > 0) {
        const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
        try {
          const targetTable = targetTableOf(plan, analysis);
          next = await applyOverrides(plan, o, by, createPlanProbe(conn.source, conn.target), new Date(), (c) => targetTable.columns.find((x) => x.name === c)?.nullable);
        } finally {
          await conn.close();
        }
        await saveJson(paths.plan, next);
        say(`Revision ${next.revision}: ${next.overrides.slice(plan.overrides.length).map((x) => x.what).join('; ')}`);
      }
      // An approved plan approved again stays as it was: its approval is on record once, never re-stamped.
      const approved = next === plan && plan.status === 'approved' ? plan : approvePlan(next, by);
      await saveJson(paths.plan, approved);
      if (hasStore(config)) await withStore(config, async (store) => {
        if (next !== plan) await store.savePlan(next, analysis);
        await store.savePlan(approved, analysis, { by });
      });
      say(`✅ Plan ${approved.id} revision ${approved.revision} approved by ${by}.`);
      // The program is written now, type-checked, so a person can read what will run before
      // running it — model-written functions included (kept for `ferry run`, tied to this revision).
      const transforms = await transformsFor({ planPath: paths.plan, plan: approved, analysis, llm: v.llm, model: loadModelConfig(), say }).catch((e: unknown) => {
        if (e instanceof FerryError && e.code === 'MODEL_NOT_CONFIGURED') {
          say(`   the program is not written yet: ${e.message}; approve again once a model is configured (ferry run never asks a model for code)`);
          return null;
        }
        throw e;
      });
      // The approval pins each function's sha256: ferry run takes exactly these, never new ones.
      if (transforms && hasStore(config)) await withStore(config, (store) => store.pinTransforms(approved, transformHashes(transforms.bodies)));
      if (transforms !== null) {
        const program = await prepareProgram({ plan: approved, analysis, dir: paths.bundleDir, ...(transforms ? { transforms } : {}) });
        say(`   the program that will run: ${program.programPath}`);
      }
      say(`   run it: ferry run ${paths.plan}`);
      return 0;
    }
    case 'run': {
      const parallel = parallelOption(v.parallel);
      if (await isPlanSetFile(rest[0] ?? '')) {
        const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
        try {
          const choice = await chooseDriver({ prefer: config.sandbox, allowWeak: v['allow-weak-sandbox'] === true, node: config.sandboxNode });
          say(choice.weaker ? `⚠ WEAKER SANDBOX — ${choice.detail}` : `🐳 Docker sandbox: ${choice.detail}`);
          return await withStore(config, (store) =>
            runPlanSet({
              path: rest[0]!,
              store,
              conn,
              driver: choice.driver,
              policy: defaultPolicy,
              startedBy: config.user,
              dryRun: v['dry-run'] === true,
              parallel,
              onEvent: printEvent,
              say,
            }),
          );
        } finally {
          await conn.close();
        }
      }
      const loaded = await loadPlanWithAnalysis(rest[0] ?? '', config);
      let plan = loaded.plan;
      if (plan.status !== 'approved') {
        if (!v.approve) {
          const items = reviewItems(plan);
          throw new PlanError('PLAN_NOT_APPROVED', `plan ${plan.id} revision ${plan.revision} is ${plan.status}, not approved`, {
            hint: items.length ? `first resolve: ${items.join(' | ')}` : `review it (ferry show ${rest[0]}), then ferry approve ${rest[0]} — or ferry run --approve`,
          });
        }
        plan = approvePlan(plan, v.by ?? config.user);
        const approved = plan;
        await withStore(config, (store) => store.savePlan(approved, loaded.analysis, { by: approved.approvedBy ?? config.user }));
        await saveJson(loaded.paths.plan, plan);
        say(`✅ approved by ${plan.approvedBy}`);
      }
      // Before any work: the store holds an approval for exactly this content (PLAN_TAMPERED / PLAN_NOT_APPROVED).
      await withStore(config, (store) => store.approvedHash(plan));
      const asUser = parseAsUser(v['as-user']);
      const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
      try {
        assertNoDrift(plan, loaded.analysis, await analyzeSchemas({ source: conn.source, target: conn.target }));
        const choice = await chooseDriver({ prefer: config.sandbox, allowWeak: v['allow-weak-sandbox'] === true, node: config.sandboxNode });
        const transforms = await withStore(config, (store) => approvedTransforms({ planPath: loaded.paths.plan, plan, store, say }));
        const program = await prepareProgram({
          plan,
          analysis: loaded.analysis,
          dir: loaded.paths.bundleDir,
          say,
          nodeMajor: config.sandboxNode.major,
          ...(transforms ? { transforms } : {}),
        });
        say(`   program: ${program.programPath}`);
        say(choice.weaker ? `⚠ WEAKER SANDBOX — ${choice.detail}` : `🐳 Docker sandbox: ${choice.detail}`);
        // The approval is the store's, recorded once by ferry approve; executeRun checks this plan is it.
        const recorded = await withStore(config, async (store) => {
          return executeRun({
            store,
            plan,
            analysis: loaded.analysis,
            conn,
            driver: choice.driver,
            policy: defaultPolicy,
            workDir: loaded.paths.bundleDir,
            program,
            startedBy: config.user,
            dryRun: v['dry-run'] === true,
            parallel,
            onEvent: printEvent,
            say,
            asUser,
          });
        });
        // No onceKey: every CLI run is a new record.
        if (!recorded.created) throw new Error(`run ${recorded.run.id} was already recorded`);
        const run = recorded.result;
        const report = recorded.report;
        for (const w of recorded.warnings) say(`⚠ ${w}`);
        if (run.dryRun) {
          say(`${run.status === 'completed' ? '🔎 dry run completed' : `❌ dry run failed: ${run.errorCode}: ${run.error}`}: ${run.inserted} rows would be written, ${run.skipped} already migrated; every batch was rolled back`);
          say(run.digested ? `   rows checksum ${run.rowsChecksum} (run ${recorded.run.id}; ferry runs show ${recorded.run.id})` : `   no rows checksum: more than ${REPLAY_ROW_LIMIT.toLocaleString('en-US')} rows (run ${recorded.run.id}; ferry runs show ${recorded.run.id})`);
          return run.status === 'completed' ? 0 : 1;
        }
        say(`   recorded as run ${recorded.run.id} (ferry runs show ${recorded.run.id}; ferry replay ${recorded.run.id})`);
        if (run.status === 'failed') {
          say(`❌ migration ${run.migrationId} failed: ${run.errorCode}: ${run.error}`);
          say(`   nothing of the failed batch was written; ${run.inserted} rows from earlier batches stay (roll back with: ferry rollback ${run.migrationId})`);
          return 1;
        }
        say(`✅ migration ${run.migrationId} completed: ${run.inserted} inserted, ${run.skipped} already migrated (skipped)${run.inserted === 0 ? ' — nothing new to move' : ''}`);
        if (run.sandbox) say(`   sandbox: ${run.sandbox.driver}, startup ${run.sandbox.startupMs ?? '?'} ms, peak memory ${run.sandbox.peakMemoryBytes === null ? 'unknown' : `${(run.sandbox.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB`}, exit ${run.sandbox.exitReason}`);
        if (report) say(renderReport(report));
        return report?.status === 'failed' ? 1 : 0;
      } finally {
        await conn.close();
      }
    }
    case 'validate': {
      const id = migrationIdArg(rest[0]);
      const asUser = parseAsUser(v['as-user']);
      const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
      try {
        const analysis = await analyzeSchemas({ source: conn.source, target: conn.target });
        const control = await getControl(conn.target, id);
        if (!control) throw new InputError('MIGRATION_NOT_FOUND', `there is no migration ${id}`, { hint: 'list runs with: ferry runs' });
        const plan = MigrationPlan.parse(control.plan);
        const report = await validateMigration({ migrationId: id, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, analysis), asUser });
        say(v.json ? JSON.stringify(report, null, 2) : renderReport(report));
        return report.status === 'passed' ? 0 : 1;
      } finally {
        await conn.close();
      }
    }
    case 'rollback': {
      const id = migrationIdArg(rest[0]);
      const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
      try {
        const batch = v.batch === undefined ? undefined : Number(v.batch);
        const r = await withStore(config, (store) => rollbackMigration({ migrationId: id, target: conn.target, store, cascade: v.cascade === true, ...(batch === undefined ? {} : { batch }) }));
        for (const c of r.cascaded ?? []) say(`↩ dependant migration ${c.migrationId} rolled back first: ${c.rowsDeleted} rows and ${c.mappingsDeleted} mappings deleted`);
        say(
          r.status === 'already_rolled_back'
            ? `migration ${id} was already rolled back; nothing to do`
            : `↩ migration ${id}${batch === undefined ? '' : ` batch ${batch}`} rolled back: ${r.rowsDeleted} rows and ${r.mappingsDeleted} mappings deleted`,
        );
        return 0;
      } finally {
        await conn.close();
      }
    }
    case 'runs': {
      if (rest[0] === 'show') return withStore(config, (store) => showRun(store, runIdArg(rest[1]), say));
      const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
      try {
        const rows = await listControls(conn.target, Number(v.limit ?? 20));
        say('Migrations (migration_control; ferry validate / rollback <id>)');
        if (rows.length === 0) say('no runs recorded yet');
        for (const r of rows) {
          say(`${String(r.id).padStart(5)}  ${describeStatus(r).padEnd(11)} ${r.planId} r${r.planRevision}  inserted ${r.rowsInserted}, skipped ${r.rowsSkipped}  ${String(r.startedAt)}${r.error ? `  ${r.errorCode}: ${r.error}` : ''}`);
        }
        await withStore(config, (store) => listRecordedRuns(store, Number(v.limit ?? 20), say));
        return 0;
      } finally {
        await conn.close();
      }
    }
    case 'review': {
      const loaded = await loadPlanWithAnalysis(rest[0] ?? '', config);
      return reviewCommand(config, loaded, v.by ?? config.user, say);
    }
    case 'serve':
      return serveCommand(
        config,
        { port: parsePort(v.port), demo: v.demo === true, token: process.env.FERRY_API_TOKEN || undefined, allowWeakSandbox: v['allow-weak-sandbox'] === true },
        say,
      );
    case 'replay':
      return replayCommand(config, runIdArg(rest[0]), { allowWeak: v['allow-weak-sandbox'] === true }, say);
    case 'sandbox': {
      const sub = rest[0];
      if (sub === 'build-image') {
        const node = v.node === undefined ? config.sandboxNode : sandboxNodeSetting(v.node, '--node');
        const img = await buildOfflineImage({ node, onProgress: say });
        say(`sandbox image ${img.image} (${img.imageId}, Node ${img.nodeVersion ?? node.major})`);
        return 0;
      }
      if (sub === 'policy') {
        const { policyJson } = await import('../../sandbox/cli.js');
        say(policyJson(defaultPolicy));
        return 0;
      }
      if (sub === 'ps' || sub === 'gc') {
        const { sandboxGc, sandboxPs } = await import('../../sandbox/cli.js');
        for (const line of sub === 'ps' ? await sandboxPs() : await sandboxGc({ all: v.all === true })) say(line);
        return 0;
      }
      throw new InputError('ARG_INVALID', `unknown sandbox command "${sub ?? ''}"`, { hint: COMMAND_HELP.sandbox! });
    }
    default:
      throw new InputError('COMMAND_UNKNOWN', `unknown command "${command}"`, { hint: 'ferry --help lists the commands' });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = terminalLines(process.stderr);
    err(describeError(e));
    if (process.env.FERRY_DEBUG && e instanceof Error) err(e.stack ?? String(e));
    process.exit(e instanceof FerryError && e.category === 'user' ? 2 : 1);
  },
);
