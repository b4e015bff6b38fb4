import { prepareProgram, type Say } from '../chain.js';
import type { FerryConfig } from '../config.js';
import { ValidationReport } from '../core/artifacts/validation-report.js';
import { createLogger } from '../logger.js';
import { assertNoDrift, readDriftCatalogs } from '../orchestrator/drift.js';
import { renderReport } from '../present/render.js';
import { openBoss } from '../queue/boss.js';
import { enqueueRun, type QueuedPlan } from '../queue/enqueue.js';
import { followRun, type FollowOutcome } from '../queue/follow.js';
import { QueueDb } from '../queue/queue-db.js';
import type { QueueSettings } from '../queue/settings.js';
import { stateUrl, withStore } from '../service/commands.js';
import type { RunStore } from '../store/run-store.js';
import { tallyLines, tallyRanges } from '../queue/tally.js';
import type { Queryable } from '../core/sql.js';
import { approvedTransforms } from './plan-command.js';
import { isPlanSetFile, loadPlanSet } from './plan-set-command.js';
import { loadPlanWithAnalysis, withConnections } from './shared.js';

export interface QueueRunOptions {
  ref: string;
  partitions: number;
  detach: boolean;
  settings: QueueSettings;
}

/**
 * `ferry run <plan or set> --queue`: each plan checked (approved as stored, no drift), its
 * program generated and bundled here once, its key ranges queued as jobs for `ferry worker`s;
 * then followed to its end (or, with --detach, left to the workers).
 */
export async function runQueued(config: FerryConfig, o: QueueRunOptions, say: Say): Promise<number> {
  const loaded = (await isPlanSetFile(o.ref)) ? (await loadPlanSet(o.ref)).plans : [await loadOne(o.ref, config)];
  return withConnections(config, (conn) =>
    withStore(config, async (store) => {
      const queued: QueuedPlan[] = [];
      const now = await readDriftCatalogs(conn, loaded.map((p) => p.plan));
      for (const p of loaded) {
        assertNoDrift(p.plan, p.analysis, now);
        const transforms = await approvedTransforms({ planPath: p.path, plan: p.plan, store, say });
        const program = await prepareProgram({ plan: p.plan, analysis: p.analysis, dir: p.dir, say, nodeMajor: config.sandboxNode.major, ...(transforms ? { transforms } : {}) });
        queued.push({ plan: p.plan, analysis: p.analysis, program });
      }
      const queue = await QueueDb.open(stateUrl(config));
      const logger = createLogger(config.logLevel);
      const boss = await openBoss(stateUrl(config), o.settings, (err) => logger.warn({ err }, 'pg-boss'));
      try {
        const e = await enqueueRun({ plans: queued, store, queue, boss, source: conn.source, target: conn.target, partitions: o.partitions, startedBy: config.user });
        say(`📬 queued run ${e.queueRunId}: ${e.plans.map((p) => `${p.plan.target.table} in ${p.ranges.length} range(s) (run ${p.storeRunId}${p.parents.length ? ', after its parents' : ''})`).join('; ')}`);
        say(`   workers claim them: ferry worker [--concurrency K], on any host reaching both databases and a Docker engine`);
        if (o.detach) {
          say(`   detached; follow with: ferry runs show ${e.plans[0]!.storeRunId}`);
          return 0;
        }
        const end = await followRun({ queue, boss, queueRunId: e.queueRunId, settings: o.settings, say });
        return await reportQueued(store, conn.target, { ...end, queueRunId: e.queueRunId }, say);
      } finally {
        await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
        await queue.close();
      }
    }),
  );
}

async function loadOne(ref: string, config: FerryConfig) {
  const l = await loadPlanWithAnalysis(ref, config);
  return { plan: l.plan, analysis: l.analysis, path: l.paths.plan, dir: l.paths.bundleDir };
}

/**
 * Each plan's run as recorded, what every range of it inserted (counted from the target's
 * mappings, over every attempt, also when the run failed), its validation report, and the
 * queued run's total; 0 only when everything completed and passed.
 */
async function reportQueued(store: RunStore, target: Queryable, end: FollowOutcome & { queueRunId: number }, say: Say): Promise<number> {
  let ok = end.status === 'completed';
  let total = 0;
  for (const plan of end.plans) {
    const run = await store.getRun(plan.storeRunId);
    const tally = await tallyRanges(target, end.partitions.filter((p) => p.planIdx === plan.idx));
    total += tally.inserted;
    say(`${run.status === 'completed' ? '✅' : '❌'} run ${run.id}: plan ${run.planId} (${plan.targetTable}) ${run.status}${run.errorCode ? ` (${run.errorCode}: ${run.error})` : ''}`);
    for (const line of tallyLines(tally)) say(line);
    if (run.reportHash) {
      const report = ValidationReport.parse((await store.getArtifact(run.reportHash))?.body);
      say(renderReport(report));
      if (report.status !== 'passed') ok = false;
    }
  }
  const failed = end.status !== 'completed' && total > 0 ? `; they stay until rolled back: ferry rollback ${end.queueRunId} --queue` : '';
  say(`📦 queued run ${end.queueRunId}: ${total.toLocaleString('en-US')} row(s) inserted over ${end.plans.length} plan(s)${failed}`);
  if (end.status !== 'completed') say(`❌ queued run failed: ${end.errorCode}: ${end.error}`);
  return ok ? 0 : 1;
}
