import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { analysisFixture, planFixture } from '../code-interpreter/fixtures.js';
import { startTestService, TOKEN } from './service-fixture.js';

describe('ferry serve: the HTTP API', () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  const api = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const res = await fetch(`${t.service.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  /** Reads a run's server-sent events to the end. */
  const follow = async (runId: number) => {
    const res = await fetch(`${t.service.url}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const messages = text
      .split('\n\n')
      .filter(Boolean)
      .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') }));
    return messages;
  };

  // A service on fresh databases for each test: no test sees what another described or ran.
  beforeEach(async () => {
    t = await startTestService();
  });
  afterEach(async () => {
    await t?.stop();
  });

  it('answers health without a token and everything else only with the right one', async () => {
    expect(await api('GET', '/api/health', undefined, null)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await api('GET', '/api/plans', undefined, null)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    expect(await api('GET', '/api/plans', undefined, 'wrong')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    expect(await api('GET', '/api/plans')).toMatchObject({ status: 200, body: { plans: [] } });
    expect(await api('GET', '/api/nothing')).toMatchObject({ status: 404, body: { error: { code: 'ROUTE_NOT_FOUND' } } });
  });

  it('validates bodies and says what is wrong, with stable codes', async () => {
    const bad = await api('POST', '/api/describe', { descripton: 'typo' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BODY_INVALID');
    expect(bad.body.error.issues.map((i: { path: string }) => i.path)).toEqual(expect.arrayContaining(['description']));
    expect(await api('POST', '/api/describe', '{not json')).toMatchObject({ status: 400, body: { error: { code: 'BODY_NOT_JSON' } } });
    expect(await api('GET', '/api/runs/12345')).toMatchObject({ status: 404, body: { error: { code: 'RUN_NOT_FOUND' } } });
  });

  it('describes, overrides (a new version), approves, runs once, streams the run, replays and rolls back', async () => {
    const described = await api('POST', '/api/describe', { description: DEMO_DESCRIPTION });
    expect(described.status).toBe(201);
    const planId: string = described.body.plan.id;
    expect(described.body.reviewItems.join('\n')).toContain('Night Floater');
    expect((await api('GET', '/api/plans')).body.plans).toMatchObject([{ planId, revision: 1, status: 'draft', needsReview: 1 }]);

    expect(await api('POST', `/api/plans/${planId}/approve`, { revision: 1 })).toMatchObject({ status: 409, body: { error: { code: 'PLAN_NEEDS_REVIEW' } } });
    expect(await api('POST', `/api/runs`, { planId, revision: 1 })).toMatchObject({ status: 409, body: { error: { code: 'PLAN_NOT_APPROVED' } } });
    expect(await api('POST', `/api/plans/${planId}/overrides`, { revision: 1, map: [{ source: 'Night Floater', target: 'astronaut' }] })).toMatchObject({
      status: 400,
      body: { error: { code: 'OVERRIDE_UNKNOWN_ENUM_VALUE' } },
    });
    const overridden = await api('POST', `/api/plans/${planId}/overrides`, { revision: 1, by: 'ana', map: [{ source: 'Night Floater', target: 'remote' }] });
    expect(overridden.status).toBe(201);
    expect(overridden.body.plan).toMatchObject({ revision: 2, status: 'draft' });
    expect(await api('POST', `/api/plans/${planId}/approve`, { revision: 1 })).toMatchObject({ status: 409, body: { error: { code: 'PLAN_REVISION_STALE' } } });

    const diff = await api('GET', `/api/plans/${planId}/diff?from=1&to=2`);
    expect(diff.body.changes).toEqual(
      expect.arrayContaining([expect.objectContaining({ area: 'enum_value', subject: 'role_type: "Night Floater"', to: 'remote (override, overridden)' })]),
    );
    const program = await api('GET', `/api/plans/${planId}/program?revision=2`);
    expect(program.body.program).toContain('export function transform');
    expect(program.body.typecheck.ok).toBe(true);

    const approved = await api('POST', `/api/plans/${planId}/approve`, { revision: 2, by: 'ana' });
    expect(approved).toMatchObject({ status: 200, body: { plan: { status: 'approved', approvedBy: 'ana' } } });
    const detail = await api('GET', `/api/plans/${planId}`);
    expect(detail.body.versions.map((v: { revision: number; status: string }) => [v.revision, v.status])).toEqual([
      [1, 'draft'],
      [2, 'approved'],
    ]);

    // Two starts at once for the same plan version: one run.
    const [a, b] = await Promise.all([api('POST', '/api/runs', { planId, revision: 2 }), api('POST', '/api/runs', { planId, revision: 2 })]);
    expect(a.body.run.id).toBe(b.body.run.id);
    expect([a.status, b.status].sort()).toEqual([200, 202]);
    const runId: number = a.body.run.id;
    const events = await follow(runId);
    expect(events.map((m) => m.data?.type ?? m.event)).toEqual(expect.arrayContaining(['started', 'sandbox_started', 'batch_committed', 'finished', 'end']));
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { id: runId, status: 'completed' } });
    const run = await api('GET', `/api/runs/${runId}`);
    expect(run.body).toMatchObject({ run: { status: 'completed', mode: 'run' }, report: { status: 'passed', counts: { migrated: 32 } } });
    // Started again after it completed: still the same run, nothing new written.
    expect(await api('POST', '/api/runs', { planId, revision: 2 })).toMatchObject({ status: 200, body: { created: false, run: { id: runId } } });

    const replay = await api('POST', `/api/runs/${runId}/replay`, {});
    expect(replay.status).toBe(202);
    const replayEvents = await follow(replay.body.run.id);
    expect(replayEvents.at(-1)).toMatchObject({ event: 'end', data: { mode: 'replay', status: 'completed', outcome: { verdict: 'reproduced' } } });

    const rolled = await api('POST', `/api/runs/${runId}/rollback`, {});
    expect(rolled).toMatchObject({ status: 200, body: { result: { status: 'rolled_back', rowsDeleted: 32 } } });
    expect((await api('GET', `/api/runs?planId=${planId}`)).body.runs.map((r: { mode: string }) => r.mode)).toEqual(['replay', 'run']);
  });

  it('follows a run another process records (the CLI) through the run store until it ends', async () => {
    const { run } = await t.store.createRun({ plan: planFixture(analysisFixture()), mode: 'dry_run', startedBy: 'another process' });
    await t.store.appendEvent(run.id, 1, { type: 'sandbox_started', driver: 'docker' });
    const res = await fetch(`${t.service.url}/api/runs/${run.id}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    // The stream is open and has sent what was recorded; the rest happens while it waits.
    while (!text.includes('sandbox_started')) text += (await reader.read()).value ?? '';
    await t.store.appendEvent(run.id, 2, { type: 'log', line: 'hello from elsewhere', stream: 'stdout' });
    await t.store.finishRun(run.id, { status: 'completed' });
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    expect(text).toContain('hello from elsewhere');
    expect(text).toMatch(/event: end\ndata: \{[^\n]*"status":"completed"/);
    expect(text.indexOf('hello from elsewhere')).toBeLessThan(text.indexOf('event: end'));
  });
});
