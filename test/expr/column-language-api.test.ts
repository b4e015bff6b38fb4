import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { startTestService, TOKEN } from '../service/service-fixture.js';

/**
 * The HTTP API takes column expressions in the overrides body, as `ferry approve --column`
 * does: refused with the language's codes, stored as expressions, compiled into the program
 * the API shows, and run (parent values included) to a validated migration.
 */
describe('ferry serve: column expressions in the overrides body', () => {
  let t: Awaited<ReturnType<typeof startTestService>>;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${t.service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses what the language does not take, stores what it does, and runs it through a parent', async () => {
    const described = await api('POST', '/api/describe', { description: DEMO_DESCRIPTION });
    const planId: string = described.body.plan.id;
    const outside = await api('POST', `/api/plans/${planId}/overrides`, { revision: 1, column: [{ target: 'role_name', origin: "name || now()::text" }] });
    expect(outside).toMatchObject({ status: 400, body: { error: { code: 'EXPR_UNSUPPORTED' } } });
    expect(outside.body.error.message).toContain('now');
    const mistyped = await api('POST', `/api/plans/${planId}/overrides`, { revision: 1, column: [{ target: 'abbreviation', origin: '"order" + 1' }] });
    expect(mistyped).toMatchObject({ status: 400, body: { error: { code: 'EXPR_TYPE' } } });
    expect(mistyped.body.error.message).toContain('abbreviation');

    const overridden = await api('POST', `/api/plans/${planId}/overrides`, {
      revision: 1,
      by: 'ana',
      map: [{ source: 'Night Floater', target: 'remote' }],
      column: [
        { target: 'role_name', origin: "name || ' @ ' || coalesce(user_id.username, 'nobody')" },
        { target: 'abbreviation', origin: "coalesce(upper(abbrev), '—')" },
      ],
    });
    expect(overridden.status, JSON.stringify(overridden.body)).toBe(201);
    const roleName = overridden.body.plan.columns.find((c: { target: string }) => c.target === 'role_name');
    expect(roleName.origin).toMatchObject({ kind: 'expression', text: "name || ' @ ' || coalesce(user_id.username, 'nobody')", reads: ['name', 'user_id.username'] });
    const diff = await api('GET', `/api/plans/${planId}/diff?from=1&to=2`);
    expect(diff.body.changes).toEqual(expect.arrayContaining([expect.objectContaining({ area: 'column', subject: 'role_name', to: "expression name || ' @ ' || coalesce(user_id.username, 'nobody') [overridden]" })]));
    const program = await api('GET', `/api/plans/${planId}/program?revision=2`);
    expect(program.body.typecheck.ok).toBe(true);
    expect(program.body.program).toContain('export function loadParents');
    expect(program.body.program).toContain('roleNameExpr(row, parents)');

    expect(await api('POST', `/api/plans/${planId}/approve`, { revision: 2, by: 'ana' })).toMatchObject({ status: 200 });
    const started = await api('POST', '/api/runs', { planId, revision: 2 });
    const runId: number = started.body.run.id;
    let run = await api('GET', `/api/runs/${runId}`);
    for (let i = 0; i < 600 && !['completed', 'failed'].includes(run.body.run.status); i++) {
      await new Promise((r) => setTimeout(r, 500));
      run = await api('GET', `/api/runs/${runId}`);
    }
    expect(run.body, JSON.stringify(run.body.run)).toMatchObject({ run: { status: 'completed' }, report: { status: 'passed' } });
    const rows = (
      await t.seed.sql(
        'legacy',
        `SELECT r.id, r.name || ' @ ' || coalesce(u.username, 'nobody') AS role_name, coalesce(upper(r.abbrev), '—') AS abbreviation
           FROM dispatch_role r LEFT JOIN dispatch_user u ON u.id = r.user_id WHERE r.group_id = 11 ORDER BY r.id`,
      )
    ).rows;
    const written = (await t.seed.sql('target', 'SELECT legacy_role_id AS id, role_name, abbreviation FROM technician_roles ORDER BY legacy_role_id')).rows;
    expect(written).toEqual(rows.map((r) => ({ id: r.id, role_name: r.role_name, abbreviation: r.abbreviation })));
    expect(written.length).toBeGreaterThan(0);
  });
});
