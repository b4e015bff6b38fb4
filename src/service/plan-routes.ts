import * as z from 'zod';
import { applyOverrides, approvePlan, type PlanOverrides } from '../../agents/planning/index.js';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { MigrationPlan, reviewItems } from '../core/artifacts/migration-plan.js';
import type { GeneratedScript } from '../core/artifacts/generated-script.js';
import { describeToPlan } from '../chain.js';
import { createPlanProbe } from '../db/plan-probe.js';
import { NotFoundError, PlanError } from '../core/errors.js';
import { diffPlans } from '../review/plan-diff.js';
import type { PlanVersionRow } from '../store/run-store.js';
import type { ServiceContext } from './context.js';
import { revisionParam } from './http.js';
import { noBody, withBody, type Reply, type Route, type RouteRequest } from './routes.js';

export const Actor = z.string().trim().min(1).max(100).optional();
const DescribeBody = z.object({ description: z.string().trim().min(3).max(2000) }).strict();
const OverrideBody = z
  .object({
    revision: z.number().int().positive(),
    by: Actor,
    map: z.array(z.object({ source: z.string(), target: z.string().min(1), column: z.string().optional() }).strict()).optional(),
    fk: z.array(z.object({ column: z.string().min(1), value: z.string().min(1) }).strict()).optional(),
    column: z.array(z.object({ target: z.string().min(1), origin: z.string().min(1) }).strict()).optional(),
    /** The enum value for rows whose source value is NULL. */
    mapNull: z.array(z.object({ target: z.string().min(1), column: z.string().optional() }).strict()).optional(),
    /** Rows to leave out: an enum source value (or glob), a column's NULLs, a predicate in the column language. */
    exclude: z.array(z.object({ source: z.string().min(1), column: z.string().optional() }).strict()).optional(),
    excludeNull: z.array(z.string().min(1)).optional(),
    where: z.array(z.string().trim().min(1).max(2000)).optional(),
    /** Conditions taken back: a --where by its predicate (or "*"), an --exclude by its value (or glob), an --exclude-null by column. */
    unwhere: z.array(z.string().trim().min(1).max(2000)).optional(),
    include: z.array(z.object({ source: z.string().min(1), column: z.string().optional() }).strict()).optional(),
    includeNull: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((b) => [b.map, b.fk, b.column, b.mapNull, b.exclude, b.excludeNull, b.where, b.unwhere, b.include, b.includeNull].some((l) => (l?.length ?? 0) > 0), {
    message: 'name at least one change in map, mapNull, fk, column, exclude, excludeNull, where, unwhere, include or includeNull',
  });
const DecisionBody = z.object({ revision: z.number().int().positive(), by: Actor, note: z.string().max(2000).optional() }).strict();

/** The plan routes: describe, list, read, diff, program, overrides, approve / reject. */
export function planRoutes(ctx: ServiceContext): Route[] {
  return [
    withBody('POST', '/api/describe', DescribeBody, (_r, body) => describe(ctx, body.description)),
    noBody('GET', '/api/plans', () => listPlans(ctx)),
    noBody('GET', '/api/plans/:id', (r) => planWithVersions(ctx, r.params.id!)),
    noBody('GET', '/api/plans/:id/versions/:revision', (r) => planVersion(ctx, r.params.id!, revisionParam(r.params.revision))),
    noBody('GET', '/api/plans/:id/diff', (r) => planDiff(ctx, r)),
    noBody('GET', '/api/plans/:id/program', (r) => planProgram(ctx, r)),
    withBody('POST', '/api/plans/:id/overrides', OverrideBody, (r, body) => override(ctx, r.params.id!, body)),
    withBody('POST', '/api/plans/:id/approve', DecisionBody, (r, body) => decide(ctx, r.params.id!, 'approve', body)),
    withBody('POST', '/api/plans/:id/reject', DecisionBody, (r, body) => decide(ctx, r.params.id!, 'reject', body)),
  ];
}

async function describe(ctx: ServiceContext, description: string): Promise<Reply> {
  const made = await ctx.withConnections((conn) => describeToPlan({ description, conn }));
  const { plan, planHash } = await ctx.store.saveNewPlan(made.plan, made.analysis);
  return { status: 201, body: { plan, planHash, reviewItems: reviewItems(plan) } };
}

async function listPlans(ctx: ServiceContext): Promise<Reply> {
  const plans = await ctx.store.listPlans();
  return {
    status: 200,
    body: {
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
    },
  };
}

async function planWithVersions(ctx: ServiceContext, id: string): Promise<Reply> {
  const versions = await ctx.store.listVersions(id);
  if (versions.length === 0) throw new NotFoundError('PLAN_NOT_FOUND', `the run store has no plan ${id}`);
  const latest = versions[versions.length - 1]!;
  const summary = (v: PlanVersionRow) => ({ revision: v.revision, status: v.status, planHash: v.planHash, decidedBy: v.decidedBy, decidedAt: v.decidedAt, decisionNote: v.decisionNote, createdAt: v.createdAt, overrides: v.plan.overrides });
  return { status: 200, body: { plan: latest.plan, planHash: latest.planHash, reviewItems: reviewItems(latest.plan), versions: versions.map(summary) } };
}

async function planVersion(ctx: ServiceContext, id: string, revision: number): Promise<Reply> {
  const v = await ctx.store.getPlan(id, revision);
  return { status: 200, body: { plan: v.plan, planHash: v.planHash, reviewItems: reviewItems(v.plan), decidedBy: v.decidedBy, decidedAt: v.decidedAt } };
}

async function planDiff(ctx: ServiceContext, r: RouteRequest): Promise<Reply> {
  const id = r.params.id!;
  const from = await ctx.store.getPlan(id, revisionParam(r.url.searchParams.get('from')));
  const to = await ctx.store.getPlan(id, revisionParam(r.url.searchParams.get('to')));
  return { status: 200, body: { from: from.revision, to: to.revision, changes: diffPlans(from.plan, to.plan) } };
}

async function planProgram(ctx: ServiceContext, r: RouteRequest): Promise<Reply> {
  const rev = r.url.searchParams.get('revision');
  const v = await ctx.store.getPlan(r.params.id!, rev === null ? undefined : revisionParam(rev));
  let script: GeneratedScript | undefined = ctx.programs.get(v.planHash);
  if (!script) {
    // A draft's program is what would run once approved: generated from the approved form.
    const asApproved = MigrationPlan.parse({ ...v.plan, status: 'approved' });
    script = await generateScript({ plan: asApproved, analysis: await ctx.store.getAnalysis(v.plan.analysisHash) });
    ctx.programs.set(v.planHash, script);
  }
  return { status: 200, body: { revision: v.revision, program: script.program, rowTypes: script.rowTypes, typecheck: script.typecheck, bundle: script.bundle } };
}

async function override(ctx: ServiceContext, id: string, body: z.infer<typeof OverrideBody>): Promise<Reply> {
  const current = await ctx.latestOrStale(id, body.revision);
  if (current.status !== 'draft') throw new PlanError('PLAN_DECIDED', `revision ${current.revision} is ${current.status}; overrides make a new revision of a draft`, { hint: 'a decided plan is not changed; describe the migration again for a new plan' });
  // Column expressions, --where and --exclude-null are checked against the analysis the plan was made from.
  const analysis = await ctx.store.getAnalysis(current.plan.analysisHash);
  const next = await ctx.withConnections((conn) =>
    applyOverrides(current.plan, toOverrides(body), body.by ?? 'api', createPlanProbe(conn.source, conn.target), new Date(), undefined, analysis),
  );
  const planHash = await ctx.store.savePlan(next);
  return { status: 201, body: { plan: next, planHash, reviewItems: reviewItems(next) } };
}

async function decide(ctx: ServiceContext, id: string, decision: 'approve' | 'reject', body: z.infer<typeof DecisionBody>): Promise<Reply> {
  const current = await ctx.latestOrStale(id, body.revision);
  if (current.status !== 'draft') throw new PlanError('PLAN_DECIDED', `revision ${current.revision} is already ${current.status}`);
  const by = body.by ?? 'api';
  const decided = decision === 'approve' ? approvePlan(current.plan, by) : MigrationPlan.parse({ ...current.plan, status: 'rejected' });
  const planHash = await ctx.store.savePlan(decided, undefined, { by, ...(body.note ? { note: body.note } : {}) });
  return { status: 200, body: { plan: decided, planHash } };
}

function toOverrides(body: z.infer<typeof OverrideBody>): PlanOverrides {
  return {
    map: (body.map ?? []).map((m) => ({ source: m.source, target: m.target, ...(m.column === undefined ? {} : { column: m.column }) })),
    fk: body.fk ?? [],
    column: body.column ?? [],
    mapNull: (body.mapNull ?? []).map((m) => ({ target: m.target, ...(m.column === undefined ? {} : { column: m.column }) })),
    exclude: (body.exclude ?? []).map((e) => ({ source: e.source, ...(e.column === undefined ? {} : { column: e.column }) })),
    excludeNull: body.excludeNull ?? [],
    where: body.where ?? [],
    unwhere: body.unwhere ?? [],
    include: (body.include ?? []).map((e) => ({ source: e.source, ...(e.column === undefined ? {} : { column: e.column }) })),
    includeNull: body.includeNull ?? [],
  };
}
