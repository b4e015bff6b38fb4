import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from 'zod';
import type { Connections } from '../chain.js';
import { PlanError } from '../core/errors.js';
import { assertNoDrift, readDriftCatalogs } from '../orchestrator/drift.js';
import { rollbackMigration } from '../orchestrator/rollback.js';
import { QueueDb } from '../queue/queue-db.js';
import { rollbackQueuedRun } from '../queue/rollback-run.js';
import { executeRun } from '../run/execute-run.js';
import type { PlanVersionRow, RunRow } from '../store/run-store.js';
import { homePath } from '../store/file-store.js';
import type { ServiceContext } from './context.js';
import { HttpError, runIdParam, sseJson } from './http.js';
import { Actor } from './plan-routes.js';
import { replayRun } from './record.js';
import type { LiveMessage } from './run-hub.js';
import { noBody, withBody, type Reply, type Route } from './routes.js';

const StartRunBody = z.object({ planId: z.string().min(1), revision: z.number().int().positive(), dryRun: z.boolean().optional(), by: Actor }).strict();
const ReplayBody = z.object({ by: Actor }).strict();
const RollbackBody = z
  .object({
    batch: z.number().int().positive().optional(),
    /** A queued run's plan run: roll back every plan of its queued run (children first), not only this one. */
    wholeQueuedRun: z.boolean().optional(),
    by: Actor,
  })
  .strict();

/** How often a stream of a run executing in another process re-reads the run store. */
const STORE_POLL_MS = 1000;

/** The run routes: list, start, read, follow (server-sent events), replay, roll back. */
export function runRoutes(ctx: ServiceContext): Route[] {
  return [
    noBody('GET', '/api/runs', async (r) => {
      const planId = r.url.searchParams.get('planId');
      return { status: 200, body: { runs: await ctx.store.listRuns(planId ? { planId } : {}) } };
    }),
    withBody('POST', '/api/runs', StartRunBody, (_r, body) => startRun(ctx, body)),
    noBody('GET', '/api/runs/:id', (r) => runDetail(ctx, runIdParam(r.params.id))),
    noBody('GET', '/api/runs/:id/events', (r) => streamEvents(ctx, r.req, r.res, runIdParam(r.params.id))),
    withBody('POST', '/api/runs/:id/replay', ReplayBody, (r, body) => replay(ctx, runIdParam(r.params.id), body.by ?? 'api')),
    withBody('POST', '/api/runs/:id/rollback', RollbackBody, (r, body) => rollback(ctx, runIdParam(r.params.id), body)),
  ];
}

async function runDetail(ctx: ServiceContext, runId: number): Promise<Reply> {
  const run = await ctx.store.getRun(runId);
  const [report, sandbox] = await Promise.all([
    run.reportHash ? ctx.store.getArtifact(run.reportHash) : null,
    run.sandboxHash ? ctx.store.getArtifact(run.sandboxHash) : null,
  ]);
  // A queued run's ranges and workers (null for a run this service or the CLI ran in one process).
  const queue = await ctx.queueView(runId);
  return { status: 200, body: { run, report: report?.body ?? null, sandbox: sandbox?.body ?? null, live: ctx.hub.isLive(runId), queue } };
}

type TrackedWork = (conn: Connections, onCreated: (run: RunRow) => void) => Promise<{ run: RunRow; created?: boolean }>;

/**
 * Starts work that outlives the request, on its own connections; answers once the run record
 * exists. A failure after that answer is logged, and ends the live stream of its run.
 */
function startTracked(ctx: ServiceContext, work: TrackedWork): Promise<{ run: RunRow; created: boolean }> {
  const { hub, logger } = ctx;
  return new Promise((resolve, reject) => {
    let answered: number | null | false = false;
    const onCreated = (run: RunRow) => {
      answered = run.id;
      hub.open(run.id);
      resolve({ run, created: true });
    };
    const p = (async () => {
      const conn = await ctx.openConnections();
      try {
        return await work(conn, onCreated);
      } finally {
        await conn.close();
      }
    })().then(
      (done) => {
        if (answered === false) {
          answered = null;
          resolve({ run: done.run, created: done.created ?? true });
        }
        // A start that found the run already recorded must not end the live one's stream.
        if (done.created !== false) hub.publish(done.run.id, { kind: 'end', run: done.run });
      },
      async (e: unknown) => {
        logger.error({ err: e }, 'run failed');
        if (answered === false) return reject(e);
        if (answered !== null) await endLiveStream(ctx, answered);
      },
    );
    hub.track(p);
  });
}

/** Ends the stream of a run that failed; reading its final record may fail too, which is logged, not thrown over the first failure. */
async function endLiveStream(ctx: ServiceContext, runId: number): Promise<void> {
  if (!ctx.hub.isLive(runId)) return;
  try {
    ctx.hub.publish(runId, { kind: 'end', run: await ctx.store.getRun(runId) });
  } catch (e) {
    ctx.logger.warn({ err: e, runId }, 'could not read the failed run to end its event stream');
  }
}

async function startRun(ctx: ServiceContext, body: z.infer<typeof StartRunBody>): Promise<Reply> {
  const version = await ctx.store.getPlan(body.planId, body.revision);
  if (version.plan.status !== 'approved') {
    throw new PlanError('PLAN_NOT_APPROVED', `plan ${body.planId} revision ${body.revision} is ${version.plan.status}`, { hint: 'approve it first (POST /api/plans/:id/approve)' });
  }
  const analysis = await ctx.store.getAnalysis(version.plan.analysisHash);
  const started = await startTracked(ctx, async (conn, onCreated) => {
    assertNoDrift(version.plan, analysis, await readDriftCatalogs(conn, [version.plan]));
    return executeRun({ ...runInputs(ctx, version, body), analysis, conn, onCreated, onEvent: onEvent(ctx) });
  });
  return { status: started.created ? 202 : 200, body: started };
}

function runInputs(ctx: ServiceContext, version: PlanVersionRow, body: z.infer<typeof StartRunBody>) {
  const dryRun = body.dryRun === true;
  return {
    store: ctx.store,
    logger: ctx.logger,
    plan: version.plan,
    driver: ctx.opts.driver,
    policy: ctx.opts.policy,
    workDir: homePath(ctx.opts.home, 'service-runs', `${version.plan.id}-r${version.plan.revision}-${randomUUID().slice(0, 8)}`),
    startedBy: body.by ?? 'api',
    dryRun,
    dataApi: ctx.opts.dataApi,
    // The same plan version never runs twice for real; a dry run may be repeated.
    ...(dryRun ? {} : { onceKey: `${version.plan.id}:${version.plan.revision}` }),
  };
}

const onEvent = (ctx: ServiceContext) => (e: unknown, runId: number, seq: number) => ctx.hub.publish(runId, { kind: 'event', seq, event: e });

async function replay(ctx: ServiceContext, runId: number, by: string): Promise<Reply> {
  await ctx.store.getRun(runId);
  const started = await startTracked(ctx, async (conn, onCreated) => {
    const r = await replayRun({
      store: ctx.store,
      runId,
      conn,
      driver: ctx.opts.driver,
      policy: ctx.opts.policy,
      workDir: homePath(ctx.opts.home, 'service-replays', `run-${runId}-${randomUUID().slice(0, 8)}`),
      startedBy: by,
      onCreated,
      onEvent: onEvent(ctx),
    });
    return { run: r.replay };
  });
  return { status: 202, body: started };
}

async function rollback(ctx: ServiceContext, runId: number, body: z.infer<typeof RollbackBody>): Promise<Reply> {
  const run = await ctx.store.getRun(runId);
  const state = await ctx.stateConnection();
  try {
    // A queued run's plan wrote through one migration per range and attempt: all of them go, never only the first.
    const queued = (await QueueDb.present(state)) ? await QueueDb.over(state).planOfStoreRun(runId) : null;
    if (queued) {
      if (body.batch !== undefined) throw new HttpError(409, 'ROLLBACK_BATCH_QUEUED', `run ${runId} is part of queued run ${queued.queueRunId}: its ranges are rolled back together, not by batch`);
      const result = await ctx.withConnections((conn) =>
        rollbackQueuedRun({ queue: QueueDb.over(state), queueRunId: queued.queueRunId, target: conn.target, store: ctx.store, by: body.by ?? 'api', ...(body.wholeQueuedRun ? {} : { planIdx: queued.idx }) }),
      );
      return { status: 200, body: { result: { ...result, migrationId: run.migrationId } } };
    }
  } finally {
    await state.end().catch(() => undefined);
  }
  if (body.wholeQueuedRun) throw new HttpError(409, 'RUN_NOT_QUEUED', `run ${runId} was not queued; roll it back without wholeQueuedRun`);
  if (run.mode !== 'run' || run.migrationId === null) {
    throw new HttpError(409, 'RUN_NOT_ROLLBACKABLE', `run ${runId} is a ${run.mode} and wrote nothing to roll back`);
  }
  const migrationId = run.migrationId;
  const batch = body.batch;
  const result = await ctx.withConnections((conn) => rollbackMigration({ migrationId, target: conn.target, store: ctx.store, ...(batch === undefined ? {} : { batch }) }));
  return { status: 200, body: { result } };
}

/**
 * Server-sent events: the events already recorded (after Last-Event-ID), then live ones
 * while the run is in this process, then `end` with the run record. Subscribing before
 * reading the record means no event falls between the two.
 */
async function streamEvents(ctx: ServiceContext, req: IncomingMessage, res: ServerResponse, runId: number): Promise<Reply> {
  const { store, hub } = ctx;
  await store.getRun(runId);
  const after = Number(req.headers['last-event-id'] ?? 0) || 0;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
  let lastSeq = after;
  const buffered: LiveMessage[] = [];
  let replaying = true;
  const write = (m: LiveMessage) => {
    if (m.kind === 'event') {
      if (m.seq <= lastSeq) return;
      lastSeq = m.seq;
      res.write(`id: ${m.seq}\nevent: run\ndata: ${sseJson(m.event)}\n\n`);
    } else if (m.kind === 'queue') {
      // No id: a snapshot, not a step of the timeline; a reconnect gets the current one anyway.
      res.write(`event: queue\ndata: ${sseJson(m.view)}\n\n`);
    } else {
      res.write(`event: end\ndata: ${sseJson(m.run)}\n\n`);
      res.end();
    }
  };
  const unsubscribe = hub.subscribe(runId, (m) => (replaying ? buffered.push(m) : write(m)));
  req.on('close', unsubscribe);
  for (const e of await store.events(runId, after)) write({ kind: 'event', seq: e.seq, event: e.event });
  replaying = false;
  for (const m of buffered) write(m);
  // Not running here: finished, or run by another process (the CLI) — then the store is
  // followed until the run ends.
  if (!hub.isLive(runId) && !res.writableEnded) await followStore(ctx, req, runId, () => lastSeq, write);
}

async function followStore(ctx: ServiceContext, req: IncomingMessage, runId: number, lastSeq: () => number, write: (m: LiveMessage) => void): Promise<void> {
  let closed = false;
  req.on('close', () => (closed = true));
  // A queued run's ranges run in ferry worker processes: their state is followed from ferry_queue, sent when it changes.
  // Without the state database the stream still follows the run store; only the queue view is missing.
  const state = await ctx.stateConnection().catch((err: unknown) => (ctx.logger.warn({ err, runId }, 'queue view unavailable: the run store database did not answer'), null));
  let sent = '';
  try {
    for (;;) {
      const run = await ctx.store.getRun(runId);
      for (const e of await ctx.store.events(runId, lastSeq())) write({ kind: 'event', seq: e.seq, event: e.event });
      const view = state ? await ctx.queueViewOn(state, runId) : null;
      const text = view ? JSON.stringify(view, (k, v: unknown) => (k === 'heartbeatAgeSeconds' ? undefined : v)) : '';
      if (view && text !== sent) {
        sent = text;
        write({ kind: 'queue', view });
      }
      if (run.status !== 'running') return write({ kind: 'end', run });
      if (closed) return;
      await new Promise((r) => setTimeout(r, STORE_POLL_MS));
    }
  } finally {
    await state?.end().catch(() => undefined);
  }
}
