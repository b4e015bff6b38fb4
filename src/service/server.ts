import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { homePath } from '../store/file-store.js';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { analyzeSchemas } from '../../agents/schema-analysis/index.js';
import { applyOverrides, approvePlan, type PlanOverrides } from '../../agents/planning/index.js';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { MigrationPlan, reviewItems } from '../core/artifacts/migration-plan.js';
import { describeToPlan, openConnections, type Connections } from '../chain.js';
import { createPlanProbe } from '../db/plan-probe.js';
import { FerryError, InputError, NotFoundError, PlanError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import { assertNoDrift } from '../orchestrator/drift.js';
import { rollbackMigration } from '../orchestrator/rollback.js';
import { diffPlans } from '../review/plan-diff.js';
import type { RunRow, RunStore } from '../store/run-store.js';
import { replayRun } from './record.js';
import { executeRun } from '../run/execute-run.js';
import type { SandboxPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';

/**
 * `ferry serve`: the HTTP API under /api and the review page at /, on node:http.
 * Every /api route but /api/health needs `Authorization: Bearer <token>`; every body is
 * checked with zod; every error is JSON `{ error: { code, message, hint?, issues? } }` with
 * a stable code. Runs execute in this process; their events are kept in the run store and
 * streamed live as server-sent events.
 */
export interface ServiceOptions {
  store: RunStore;
  sourceUrl: string;
  targetUrl: string;
  /** The accepted token's sha256 (the token itself need not be kept anywhere). */
  tokenSha256: string;
  logger: Logger;
  /** Where programs and bundles of runs are written. */
  home: string;
  driver: SandboxDriver;
  policy: SandboxPolicy;
}

export interface RunningService {
  url: string;
  port: number;
  server: Server;
  /** Waits for runs in progress, then stops listening. */
  close(): Promise<void>;
}

export const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * The token the service accepts: FERRY_API_TOKEN when set; else the one generated at first
 * start (only its hash is kept in the run store). A newly generated token is returned so
 * the caller can print it — once.
 */
export async function resolveToken(store: RunStore, configured: string | undefined): Promise<{ sha256: string; generated: string | null }> {
  checkApiToken(configured);
  if (configured) return { sha256: sha256Hex(configured), generated: null };
  const existing = await store.apiTokenHash();
  if (existing) return { sha256: existing, generated: null };
  const token = randomBytes(24).toString('base64url');
  if (await store.saveApiTokenHash(sha256Hex(token))) return { sha256: sha256Hex(token), generated: token };
  return { sha256: (await store.apiTokenHash())!, generated: null };
}

// ---- request bodies -------------------------------------------------------------------

const Actor = z.string().trim().min(1).max(100).optional();
const DescribeBody = z.object({ description: z.string().trim().min(3).max(2000) }).strict();
const OverrideBody = z
  .object({
    revision: z.number().int().positive(),
    by: Actor,
    map: z.array(z.object({ source: z.string(), target: z.string().min(1), column: z.string().optional() }).strict()).optional(),
    fk: z.array(z.object({ column: z.string().min(1), value: z.string().min(1) }).strict()).optional(),
    column: z.array(z.object({ target: z.string().min(1), origin: z.string().min(1) }).strict()).optional(),
  })
  .strict()
  .refine((b) => (b.map?.length ?? 0) + (b.fk?.length ?? 0) + (b.column?.length ?? 0) > 0, { message: 'name at least one change in map, fk or column' });
const DecisionBody = z.object({ revision: z.number().int().positive(), by: Actor, note: z.string().max(2000).optional() }).strict();
const StartRunBody = z.object({ planId: z.string().min(1), revision: z.number().int().positive(), dryRun: z.boolean().optional(), by: Actor }).strict();
const ReplayBody = z.object({ by: Actor }).strict();
const RollbackBody = z.object({ batch: z.number().int().positive().optional() }).strict();

// ---- errors ---------------------------------------------------------------------------

class HttpError extends FerryError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly issues?: Array<{ path: string; message: string }>,
  ) {
    super(code, 'user', message);
  }
}

const CONFLICT_CODES = new Set(['PLAN_NOT_APPROVED', 'PLAN_NEEDS_REVIEW', 'PLAN_REJECTED', 'PLAN_REVISION_STALE', 'ANALYSIS_STALE', 'MIGRATION_ALREADY_RUNNING', 'RUN_NOT_REPLAYABLE', 'PLAN_DECIDED']);

function errorStatus(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof NotFoundError && /NOT_FOUND$/.test(e.code)) return 404;
  if (e instanceof FerryError && CONFLICT_CODES.has(e.code)) return 409;
  if (e instanceof FerryError && e.category === 'user') return 400;
  if (e instanceof FerryError && e.category === 'third_party') return 502;
  return 500;
}

function errorBody(e: unknown): { error: Record<string, unknown> } {
  if (e instanceof FerryError) {
    return {
      error: {
        code: e.code,
        message: e.message,
        ...(e.hint ? { hint: e.hint } : {}),
        ...(e instanceof HttpError && e.issues ? { issues: e.issues } : {}),
      },
    };
  }
  return { error: { code: 'INTERNAL', message: 'the service failed unexpectedly; the log has the details' } };
}

function parseBody<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
    throw new HttpError(400, 'BODY_INVALID', `the request body is not valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return r.data;
}

const MAX_BODY_BYTES = 1 << 20;
/** How often a stream of a run executing in another process re-reads the run store. */
const STORE_POLL_MS = 1000;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'BODY_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BODY_NOT_JSON', 'the request body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

// ---- live run events ------------------------------------------------------------------

type LiveMessage = { kind: 'event'; seq: number; event: unknown } | { kind: 'end'; run: RunRow };

/** Runs executing in this process, and who is listening to them. */
class RunHub {
  private readonly live = new Map<number, Set<(m: LiveMessage) => void>>();
  readonly running = new Set<Promise<unknown>>();

  open(runId: number): void {
    if (!this.live.has(runId)) this.live.set(runId, new Set());
  }
  isLive(runId: number): boolean {
    return this.live.has(runId);
  }
  publish(runId: number, m: LiveMessage): void {
    for (const l of this.live.get(runId) ?? []) l(m);
    if (m.kind === 'end') this.live.delete(runId);
  }
  subscribe(runId: number, fn: (m: LiveMessage) => void): () => void {
    const set = this.live.get(runId);
    if (!set) return () => {};
    set.add(fn);
    return () => set.delete(fn);
  }
  track<T>(p: Promise<T>): void {
    const tracked = p.catch(() => undefined);
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }
}

// ---- static review page ---------------------------------------------------------------

const PAGE_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'review', 'page');
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/**
 * Sent with the page and its files: scripts, styles and requests from this origin only (the
 * page has no inline script or style), and never inside another site's frame.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** Shortest API token accepted: 32 bytes (a generated one is 24 random bytes, 32 characters). */
export const MIN_TOKEN_BYTES = 32;

/** Refuses a configured token too short to resist guessing, before anything starts. */
export function checkApiToken(token: string | undefined): void {
  if (token === undefined) return;
  const bytes = Buffer.byteLength(token, 'utf8');
  if (bytes < MIN_TOKEN_BYTES) {
    throw new InputError('API_TOKEN_TOO_SHORT', `FERRY_API_TOKEN is ${bytes} bytes long; it must be at least ${MIN_TOKEN_BYTES}`, {
      hint: `choose a longer one (e.g. \`openssl rand -base64 32\`), or unset FERRY_API_TOKEN and ferry serve generates one`,
    });
  }
}

// ---- the service ----------------------------------------------------------------------

export async function startService(opts: ServiceOptions, listen: { port: number; host?: string } = { port: 0 }): Promise<RunningService> {
  const { store, logger } = opts;
  const hub = new RunHub();
  const programCache = new Map<string, unknown>();
  const tokenHash = Buffer.from(opts.tokenSha256, 'hex');

  const authorized = (req: IncomingMessage): boolean => {
    // The scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are Bearer.
    const m = /^bearer[ \t]+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const presented = Buffer.from(sha256Hex(m[1]!.trim()), 'hex');
    return presented.length === tokenHash.length && timingSafeEqual(presented, tokenHash);
  };

  const withConnections = async <T>(fn: (conn: Connections) => Promise<T>): Promise<T> => {
    const conn = await openConnections(opts.sourceUrl, opts.targetUrl);
    try {
      return await fn(conn);
    } finally {
      await conn.close();
    }
  };

  const latestOrStale = async (planId: string, revision: number) => {
    const latest = await store.getPlan(planId);
    if (latest.revision !== revision) {
      throw new PlanError('PLAN_REVISION_STALE', `plan ${planId} is at revision ${latest.revision}, not ${revision}`, { hint: 'reload the plan and decide on its latest revision' });
    }
    return latest;
  };

  /** Starts work that outlives the request; answers once the run record exists. */
  const startTracked = (work: (onCreated: (run: RunRow) => void) => Promise<{ run: RunRow; created?: boolean }>): Promise<{ run: RunRow; created: boolean }> =>
    new Promise((resolve, reject) => {
      let answered = false;
      const p = work((run) => {
        answered = true;
        hub.open(run.id);
        resolve({ run, created: true });
      }).then(
        (done) => {
          if (!answered) {
            answered = true;
            resolve({ run: done.run, created: done.created ?? true });
          }
          // A start that found the run already recorded must not end the live one's stream.
          if (done.created !== false) hub.publish(done.run.id, { kind: 'end', run: done.run });
        },
        async (e: unknown) => {
          logger.error({ err: e }, 'run failed');
          if (!answered) {
            answered = true;
            reject(e);
          }
        },
      );
      hub.track(p);
    });

  const finishHubOnError = async (runId: number) => {
    if (hub.isLive(runId)) hub.publish(runId, { kind: 'end', run: await store.getRun(runId) });
  };

  const onEvent = (e: unknown, runId: number, seq: number) => hub.publish(runId, { kind: 'event', seq, event: e });

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    // Still percent-encoded: nothing from the path is decoded before the token is checked.
    const raw = path.split('/').filter(Boolean);

    if (method === 'GET' && STATIC[path]) {
      const s = STATIC[path]!;
      res.writeHead(200, { 'content-type': s.type, 'cache-control': 'no-store', ...PAGE_HEADERS });
      res.end(readFileSync(join(PAGE_DIR, s.file)));
      return;
    }
    if (raw[0] !== 'api') throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${path}`);
    if (method === 'GET' && path === '/api/health') {
      send(res, 200, { status: 'ok', driver: opts.driver.kind, runsInProgress: hub.running.size });
      return;
    }
    if (!authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'UNAUTHORIZED', 'this route needs Authorization: Bearer <token>');
    }
    const parts = raw.map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new HttpError(400, 'PATH_INVALID', `the path segment "${segment}" is not valid percent-encoding`);
      }
    });
    const [, resource, id, sub, subId] = parts;

    // POST /api/describe — description → analysis + plan (draft)
    if (method === 'POST' && resource === 'describe' && !id) {
      const body = parseBody(DescribeBody, await readJson(req));
      const made = await withConnections((conn) => describeToPlan({ description: body.description, conn }));
      const { plan, planHash } = await store.saveNewPlan(made.plan, made.analysis);
      send(res, 201, { plan, planHash, reviewItems: reviewItems(plan) });
      return;
    }

    if (resource === 'plans') {
      if (method === 'GET' && !id) {
        const plans = await store.listPlans();
        send(res, 200, {
          plans: plans.map((p) => ({
            planId: p.planId,
            revision: p.revision,
            status: p.status,
            description: p.description,
            sourceTable: p.sourceTable,
            targetTable: p.targetTable,
            planHash: p.planHash,
            needsReview: reviewItems(p.plan).length,
            risk: p.plan.risk.level,
            createdAt: p.createdAt,
          })),
        });
        return;
      }
      if (!id) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} /api/plans is not a route`);
      if (method === 'GET' && !sub) {
        const versions = await store.listVersions(id);
        if (versions.length === 0) throw new NotFoundError('PLAN_NOT_FOUND', `the run store has no plan ${id}`);
        const latest = versions[versions.length - 1]!;
        send(res, 200, {
          plan: latest.plan,
          planHash: latest.planHash,
          reviewItems: reviewItems(latest.plan),
          versions: versions.map((v) => ({ revision: v.revision, status: v.status, planHash: v.planHash, decidedBy: v.decidedBy, decidedAt: v.decidedAt, decisionNote: v.decisionNote, createdAt: v.createdAt, overrides: v.plan.overrides })),
        });
        return;
      }
      if (method === 'GET' && sub === 'versions' && subId) {
        const v = await store.getPlan(id, revisionParam(subId));
        send(res, 200, { plan: v.plan, planHash: v.planHash, reviewItems: reviewItems(v.plan), decidedBy: v.decidedBy, decidedAt: v.decidedAt });
        return;
      }
      if (method === 'GET' && sub === 'diff') {
        const from = await store.getPlan(id, revisionParam(url.searchParams.get('from')));
        const to = await store.getPlan(id, revisionParam(url.searchParams.get('to')));
        send(res, 200, { from: from.revision, to: to.revision, changes: diffPlans(from.plan, to.plan) });
        return;
      }
      if (method === 'GET' && sub === 'program') {
        const rev = url.searchParams.get('revision');
        const v = await store.getPlan(id, rev === null ? undefined : revisionParam(rev));
        let script = programCache.get(v.planHash);
        if (!script) {
          // A draft's program is what would run once approved: generated from the approved form.
          const asApproved = MigrationPlan.parse({ ...v.plan, status: 'approved' });
          script = await generateScript({ plan: asApproved, analysis: await store.getAnalysis(v.plan.analysisHash) });
          programCache.set(v.planHash, script);
        }
        const s = script as { program: string; rowTypes: string; typecheck: unknown; bundle: unknown };
        send(res, 200, { revision: v.revision, program: s.program, rowTypes: s.rowTypes, typecheck: s.typecheck, bundle: s.bundle });
        return;
      }
      if (method === 'POST' && sub === 'overrides') {
        const body = parseBody(OverrideBody, await readJson(req));
        const current = await latestOrStale(id, body.revision);
        if (current.status !== 'draft') throw new PlanError('PLAN_DECIDED', `revision ${current.revision} is ${current.status}; overrides make a new revision of a draft`, { hint: 'a decided plan is not changed; describe the migration again for a new plan' });
        const by = body.by ?? 'api';
        const next = await withConnections((conn) =>
          applyOverrides(current.plan, toOverrides(body), by, createPlanProbe(conn.source, conn.target)),
        );
        const planHash = await store.savePlan(next);
        send(res, 201, { plan: next, planHash, reviewItems: reviewItems(next) });
        return;
      }
      if (method === 'POST' && (sub === 'approve' || sub === 'reject')) {
        const body = parseBody(DecisionBody, await readJson(req));
        const current = await latestOrStale(id, body.revision);
        if (current.status !== 'draft') throw new PlanError('PLAN_DECIDED', `revision ${current.revision} is already ${current.status}`);
        const by = body.by ?? 'api';
        const decided =
          sub === 'approve'
            ? approvePlan(current.plan, by)
            : MigrationPlan.parse({ ...current.plan, status: 'rejected' });
        const planHash = await store.savePlan(decided, undefined, { by, ...(body.note ? { note: body.note } : {}) });
        send(res, 200, { plan: decided, planHash });
        return;
      }
    }

    if (resource === 'runs') {
      if (method === 'GET' && !id) {
        const planId = url.searchParams.get('planId');
        send(res, 200, { runs: await store.listRuns(planId ? { planId } : {}) });
        return;
      }
      if (method === 'POST' && !id) {
        const body = parseBody(StartRunBody, await readJson(req));
        const version = await store.getPlan(body.planId, body.revision);
        if (version.plan.status !== 'approved') {
          throw new PlanError('PLAN_NOT_APPROVED', `plan ${body.planId} revision ${body.revision} is ${version.plan.status}`, { hint: 'approve it first (POST /api/plans/:id/approve)' });
        }
        const analysis = await store.getAnalysis(version.plan.analysisHash);
        const dryRun = body.dryRun === true;
        const started = await startTracked(async (onCreated) => {
          const conn = await openConnections(opts.sourceUrl, opts.targetUrl);
          let runId: number | null = null;
          try {
            assertNoDrift(version.plan, analysis, await analyzeSchemas({ source: conn.source, target: conn.target }));
            return await executeRun({
              store,
              logger,
              plan: version.plan,
              analysis,
              conn,
              driver: opts.driver,
              policy: opts.policy,
              workDir: homePath(opts.home, 'service-runs', `${version.plan.id}-r${version.plan.revision}-${randomUUID().slice(0, 8)}`),
              startedBy: body.by ?? 'api',
              dryRun,
              // The same plan version never runs twice for real; a dry run may be repeated.
              ...(dryRun ? {} : { onceKey: `${version.plan.id}:${version.plan.revision}` }),
              onCreated: (run) => {
                runId = run.id;
                onCreated(run);
              },
              onEvent,
            });
          } catch (e) {
            if (runId !== null) await finishHubOnError(runId);
            throw e;
          } finally {
            await conn.close();
          }
        });
        send(res, started.created ? 202 : 200, started);
        return;
      }
      if (!id) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} /api/runs is not a route`);
      const runId = runIdParam(id);
      if (method === 'GET' && !sub) {
        const run = await store.getRun(runId);
        const [report, sandbox] = await Promise.all([
          run.reportHash ? store.getArtifact(run.reportHash) : null,
          run.sandboxHash ? store.getArtifact(run.sandboxHash) : null,
        ]);
        send(res, 200, { run, report: report?.body ?? null, sandbox: sandbox?.body ?? null, live: hub.isLive(runId) });
        return;
      }
      if (method === 'GET' && sub === 'events') {
        await streamEvents(req, res, runId);
        return;
      }
      if (method === 'POST' && sub === 'replay') {
        const body = parseBody(ReplayBody, await readJson(req));
        await store.getRun(runId);
        const started = await startTracked(async (onCreated) => {
          const conn = await openConnections(opts.sourceUrl, opts.targetUrl);
          let replayId: number | null = null;
          try {
            const r = await replayRun({
              store,
              runId,
              conn,
              driver: opts.driver,
              policy: opts.policy,
              workDir: homePath(opts.home, 'service-replays', `run-${runId}-${randomUUID().slice(0, 8)}`),
              startedBy: body.by ?? 'api',
              onCreated: (run) => {
                replayId = run.id;
                onCreated(run);
              },
              onEvent,
            });
            return { run: r.replay };
          } catch (e) {
            if (replayId !== null) await finishHubOnError(replayId);
            throw e;
          } finally {
            await conn.close();
          }
        });
        send(res, 202, started);
        return;
      }
      if (method === 'POST' && sub === 'rollback') {
        const body = parseBody(RollbackBody, await readJson(req));
        const run = await store.getRun(runId);
        if (run.mode !== 'run' || run.migrationId === null) {
          throw new HttpError(409, 'RUN_NOT_ROLLBACKABLE', `run ${runId} is a ${run.mode} and wrote nothing to roll back`);
        }
        const migrationId = run.migrationId;
        const result = await withConnections((conn) => rollbackMigration({ migrationId, target: conn.target, store, ...(body.batch === undefined ? {} : { batch: body.batch }) }));
        send(res, 200, { result });
        return;
      }
    }
    throw new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${path}`);
  }

  /**
   * Server-sent events: the events already recorded (after Last-Event-ID), then live ones
   * while the run is in this process, then `end` with the run record. Subscribing before
   * reading the record means no event falls between the two.
   */
  async function streamEvents(req: IncomingMessage, res: ServerResponse, runId: number): Promise<void> {
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
    if (!hub.isLive(runId) && !res.writableEnded) {
      // Not running here: finished, or run by another process (the CLI) — then the store is
      // followed until the run ends.
      let closed = false;
      req.on('close', () => (closed = true));
      for (;;) {
        const run = await store.getRun(runId);
        for (const e of await store.events(runId, lastSeq)) write({ kind: 'event', seq: e.seq, event: e.event });
        if (run.status !== 'running') {
          write({ kind: 'end', run });
          break;
        }
        if (closed) break;
        await new Promise((r) => setTimeout(r, STORE_POLL_MS));
      }
    }
  }

  const server = createServer((req, res) => {
    const reqId = randomUUID().slice(0, 8);
    const t0 = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.on('finish', () => {
      logger.info({ reqId, method: req.method, path: url.pathname, status: res.statusCode, ms: Number((process.hrtime.bigint() - t0) / 1_000_000n) }, 'request');
    });
    route(req, res, url).catch((e: unknown) => {
      const status = errorStatus(e);
      if (status >= 500) logger.error({ reqId, err: e }, 'request failed');
      if (res.headersSent) {
        res.end();
        return;
      }
      send(res, status, errorBody(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new FerryError('SERVE_LISTEN_FAILED', 'system', `cannot listen on ${listen.host ?? '127.0.0.1'}:${listen.port}: ${e.message}`, { cause: e })));
    server.listen(listen.port, listen.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: async () => {
      await Promise.allSettled([...hub.running]);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * JSON for one `data:` line. JSON.stringify leaves U+2028/U+2029 raw, and line-based readers
 * (a regex's `.` and `$`, some SSE clients) take them for line ends; escaped, they cannot split a frame.
 */
export function sseJson(value: unknown): string {
  return JSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function revisionParam(raw: string | null): number {
  const n = Number(raw);
  if (raw === null || !Number.isInteger(n) || n <= 0) throw new InputError('ARG_INVALID', `expected a revision (a positive integer), got "${raw ?? ''}"`);
  return n;
}

function runIdParam(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new InputError('ARG_INVALID', `expected a run id (a positive integer), got "${raw}"`);
  return n;
}

function toOverrides(body: z.infer<typeof OverrideBody>): PlanOverrides {
  return {
    map: (body.map ?? []).map((m) => ({ source: m.source, target: m.target, ...(m.column === undefined ? {} : { column: m.column }) })),
    fk: body.fk ?? [],
    column: body.column ?? [],
  };
}
