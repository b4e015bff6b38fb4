import { ValidationReport } from '../core/artifacts/validation-report.js';
import type { Say } from '../chain.js';
import { connectionOptions, requireUrl, storeOptions, type FerryConfig } from '../config.js';
import { renderReport } from '../present/render.js';
import { describeRunEvent, sandboxChoiceLine, warningLine } from '../present/run-events.js';
import { homePath, planFilePath, planPaths } from '../store/file-store.js';
import { RunStore, type RunRow, type StoredEvent } from '../store/run-store.js';
import type { ReplayFactor } from './record.js';

/** The run store for this configuration: FERRY_STATE_URL, else the target database. */
export function stateUrl(config: FerryConfig): string {
  return config.stateUrl ?? requireUrl(config, 'target');
}

/** Whether a run store is configured; approving a plan file works without any database. */
export function hasStore(config: FerryConfig): boolean {
  return (config.stateUrl ?? config.targetUrl) !== undefined;
}

export async function withStore<T>(config: FerryConfig, fn: (store: RunStore) => Promise<T>): Promise<T> {
  const store = await RunStore.open(stateUrl(config), storeOptions(config));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * The run store opened now and handed over later: its connection, session probe and schema
 * check go on beside the caller's other start-up work (ferry run's plan loading). take() gives
 * the store or tells its failure; dispose() closes it unless it was taken (its taker closes it).
 */
export function storeBeside(config: FerryConfig): { take(): Promise<RunStore>; dispose(): Promise<void> } {
  const opening = (async () => RunStore.open(stateUrl(config), storeOptions(config)))();
  opening.catch(() => undefined);
  let taken = false;
  return {
    take: () => {
      taken = true;
      return opening;
    },
    dispose: async () => {
      if (taken) return;
      await opening.then((store) => store.close(), () => undefined);
    },
  };
}

// Here too for the callers that had it from here; it lives with the plan files (read without a store).
export { isStoredPlanRef } from '../store/file-store.js';

/** Where the CLI keeps files for a plan it loaded from the store. */
export function storedPlanPaths(config: FerryConfig, planId: string) {
  return planPaths(planFilePath(config.home, planId));
}

export function describeRun(run: RunRow): string {
  const what = run.mode === 'replay' ? `replay of run ${run.replayOf}` : run.mode === 'dry_run' ? 'dry run' : `run${run.migrationId ? ` (migration ${run.migrationId})` : ''}`;
  return `run ${run.id}: ${what} of plan ${run.planId} r${run.revision} — ${run.status}${run.errorCode ? ` (${run.errorCode}: ${run.error})` : ''}`;
}

export function renderFactors(factors: ReplayFactor[]): string {
  return factors.map((f) => `  ${f.same ? '=' : '≠'} ${f.factor.padEnd(12)} ${f.detail}`).join('\n');
}

/** The run store's runs (their ids are what runs show and replay take; not migration ids). */
export async function listRecordedRuns(store: RunStore, limit: number, say: Say): Promise<void> {
  const runs = await store.listRuns({ limit });
  say('');
  say('Recorded runs (ferry runs show <run>, ferry replay <run>)');
  if (runs.length === 0) say('no runs recorded yet');
  for (const r of runs) say(`${String(r.id).padStart(5)}  ${describeRun(r).replace(/^run \d+: /, '')}  ${r.startedAt}`);
}

/** `ferry runs show <run>`: the recorded timeline, logs, checksums and report. */
export async function showRun(store: RunStore, id: number, say: Say): Promise<number> {
  const run = await store.getRun(id);
  say(describeRun(run));
  say(`  started ${run.startedAt}${run.finishedAt ? `, finished ${run.finishedAt}` : ''} by ${run.startedBy}`);
  say(`  plan sha256 ${run.planHash}`);
  if (run.bundleSha256) say(`  bundle sha256 ${run.bundleSha256}`);
  if (run.imageId) say(`  image ${run.imageId}`);
  if (run.rowsChecksum) say(`  rows checksum ${run.rowsChecksum} over ${run.rowKeys?.length ?? 0} rows (source ${run.sourceChecksum})`);
  const outcome = run.outcome ?? {};
  if (typeof outcome.summary === 'string') say(`  ${outcome.summary}`);
  if (Array.isArray(outcome.factors)) say(renderFactors(outcome.factors as ReplayFactor[]));
  say('');
  say('Timeline');
  const events: StoredEvent[] = await store.events(id);
  if (events.length === 0) say('  (no events recorded)');
  for (const e of events) {
    const line = describeRunEvent(e.event);
    if (line) say(`  ${e.at}  ${line}`);
  }
  if (run.sandboxHash) {
    const sb = (await store.getArtifact(run.sandboxHash))?.body as Record<string, unknown> | undefined;
    if (sb) say(`\nSandbox: ${String(sb.driver)}, exit ${String(sb.exitReason)}, ${String(sb.durationMs)} ms, peak memory ${sb.peakMemoryBytes === null ? 'unknown' : `${(Number(sb.peakMemoryBytes) / 2 ** 20).toFixed(1)} MiB`}`);
  }
  if (run.reportHash) {
    const report = ValidationReport.parse((await store.getArtifact(run.reportHash))?.body);
    say('');
    say(renderReport(report));
  }
  return 0;
}

/** `ferry replay <run>`: the recorded bundle and plan again, dry, and whether it reproduces. */
export async function replayCommand(config: FerryConfig, id: number, options: { allowWeak: boolean }, say: Say): Promise<number> {
  // The run machinery (drivers, sandbox, orchestrator) imported here: `ferry runs`, which shares
  // this module, only reads the store.
  const [{ openConnections }, { chooseDriver }, { defaultPolicy }, { replayRun }] = await Promise.all([import('../chain.js'), import('../../sandbox/index.js'), import('../../sandbox/policy.js'), import('./record.js')]);
  return withStore(config, async (store) => {
    const conn = await openConnections(requireUrl(config, 'source'), requireUrl(config, 'target'), connectionOptions(config));
    try {
      const choice = await chooseDriver({ prefer: config.sandbox, allowWeak: options.allowWeak, node: config.sandboxNode });
      say(sandboxChoiceLine(choice));
      say(`🔁 replaying run ${id}: its recorded bundle and plan, dry run (the target transaction is rolled back)`);
      const r = await replayRun({
        store,
        runId: id,
        conn,
        driver: choice.driver,
        policy: defaultPolicy,
        workDir: homePath(config.home, 'replays', `run-${id}-${Date.now()}`),
        startedBy: config.user,
      });
      say(`${r.verdict === 'reproduced' ? '✅' : '❌'} ${r.summary}`);
      say(renderFactors(r.factors));
      for (const w of r.warnings) say(warningLine(w));
      say(`   recorded as run ${r.replay.id} (ferry runs show ${r.replay.id})`);
      return r.verdict === 'reproduced' ? 0 : 1;
    } finally {
      await conn.close();
    }
  });
}
