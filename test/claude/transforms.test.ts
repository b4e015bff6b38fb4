import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { readingAcks } from './reading-acks.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { COLUMNS_TOOL, INTENT_TOOL } from '../../agents/planning/claude/index.js';
import { WRITE_TOOL } from '../../agents/code-interpreter/claude/write-transforms.js';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { openConnections, prepareProgram, type Connections } from '../../src/chain.js';
import { renderPlan } from '../../src/present/render.js';
import { RunStore } from '../../src/store/run-store.js';
import { executeRunForTest } from '../setup/execute.js';
import { describeToPlanWithClaude, writeProgramTransforms } from '../../src/chain-claude.js';
import { AnthropicModelClient } from '../../src/core/llm/anthropic-client.js';
import { TokenBudget } from '../../src/core/llm/budget.js';
import { loadPrompt } from '../../src/core/llm/prompts.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import pg from 'pg';
import { fixture, startFakeAnthropic, toolUse, type FakeAnthropic, type Reply } from './fake-anthropic.js';

const DESCRIPTION = 'bring the employees across; full name is first + last; keep who reports to whom';

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

describe('a column the vocabulary cannot express: a model-written function, type-checked, run only in the sandbox', () => {
  let legacy: TestDatabase;
  let target: TestDatabase;
  let conn: Connections;
  let fake: FakeAnthropic | undefined;

  beforeAll(async () => {
    legacy = await createTestDatabase('emp_legacy');
    target = await createTestDatabase('emp_target');
    await sql(legacy.url, `CREATE TABLE employees (id serial PRIMARY KEY, first_name varchar(50) NOT NULL, last_name varchar(50) NOT NULL, email text, manager_id integer REFERENCES employees(id));
      INSERT INTO employees (first_name, last_name, email, manager_id) VALUES ('Ada', 'Lovelace', 'ada@example.com', NULL), ('Grace ', 'Hopper', NULL, 1), ('Alan', 'Turing', 'alan@example.com', 2)`);
    await sql(target.url, `CREATE TABLE employees (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), badge_line text NOT NULL, email text, reports_to uuid REFERENCES employees(id), legacy_employee_id integer)`);
    conn = await openConnections(legacy.url, target.url);
  });
  afterAll(async () => {
    await conn?.close();
    await legacy?.drop();
    await target?.drop();
  });
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const client = async (replies: Reply[]) => {
    fake = await startFakeAnthropic(replies);
    return new AnthropicModelClient({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0 });
  };

  it('plans, has the function written (repaired from the compiler’s diagnostics), runs it in Docker, and says what validation could not re-derive', async () => {
    const planner = await client([toolUse(INTENT_TOOL, fixture('employees-intent.json')), toolUse(COLUMNS_TOOL, fixture('employees-columns.json'))]);
    const { plan: draft, analysis } = await describeToPlanWithClaude({ description: DESCRIPTION, conn, model: { client: planner, budget: new TokenBudget(50_000) } });
    expect(draft.columns.find((c) => c.target === 'badge_line')).toMatchObject({
      origin: { kind: 'transform', sources: ['first_name', 'last_name'], description: 'first_name, one space, then last_name' },
      status: 'mapped',
    });
    // Prose the column language cannot parse stays a function, and the plan says what that costs.
    expect(draft.columns.find((c) => c.target === 'badge_line')!.reason).toMatch(/checked by type and nullability only, not re-derived by validation/);
    expect(draft.risk.reasons.join('\n')).toMatch(/badge_line: a function of first_name, last_name .*checked by type and nullability only/);
    // `ferry show` cuts the origin column, never the words that say what validation cannot check.
    expect(renderPlan(draft)).toMatch(/ badge_line +text +function, checked by type only, of first_name, last_name/);
    expect(draft.source.columns).toEqual(expect.arrayContaining(['id', 'first_name', 'last_name', 'email', 'manager_id']));
    // "keep who reports to whom": the model says a reference; the rules say how (through the run's own mappings).
    expect(draft.columns.find((c) => c.target === 'reports_to')).toMatchObject({ origin: { kind: 'via_mapping', source: 'manager_id' }, status: 'mapped' });
    expect(draft.columns.find((c) => c.target === 'reports_to')!.reason).toMatch(/agrees/);
    // The model's reading of the words is acknowledged first, as a reviewer would (issue 15).
    const plan = approvePlan(await applyOverrides(draft, { ack: readingAcks(draft) }, 'reviewer', createPlanProbe(conn.source, conn.target)), 'reviewer');

    // Without the function the generator refuses by name; it never writes a guess.
    await expect(generateScript({ plan, analysis })).rejects.toMatchObject({ code: 'TRANSFORM_NOT_WRITTEN' });

    await fake!.close();
    const writer = await client([
      toolUse(WRITE_TOOL, fixture('employees-functions-wrong.json')),
      toolUse(WRITE_TOOL, fixture('employees-functions-escape.json')),
      toolUse(WRITE_TOOL, fixture('employees-functions.json')),
    ]);
    const written = await writeProgramTransforms({ plan, analysis, model: { client: writer, budget: new TokenBudget(50_000) } });
    const feedback = fake!.requests.slice(1).map((r) => JSON.stringify(r.body.messages.at(-1)));
    expect(feedback[0]).toMatch(/TS2339 Property 'middle_name' does not exist/);
    expect(feedback[1]).toMatch(/not a single function body/);
    expect(written.bodies).toEqual({ badge_line: 'return `${row.first_name.trim()} ${row.last_name.trim()}`;' });
    const prompt = await loadPrompt('code-interpreter.v1');
    expect(written.generator).toMatchObject({ kind: 'claude', model: 'claude-sonnet-5-5', promptHash: prompt.sha256, usage: { requests: 3 } });
    expect(written.transcript.exchanges).toHaveLength(3);

    const dir = await mkdtemp(join(tmpdir(), 'ferry-transform-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const program = await prepareProgram({ plan, analysis, dir, transforms: written });
    expect(program.script.program).toMatch(/function badgeLineFrom\(row: Pick<SourceRow, 'first_name' \| 'last_name'>\): string \{/);
    expect(program.script.transforms).toEqual(written.bodies);

    const store = await RunStore.open(target.url);
    onTestFinished(() => store.close());
    const { run, report } = await executeRunForTest(store, { plan, analysis, program, conn, driver: await dockerDriverForTests(), policy: defaultPolicy });
    expect(run.status).toBe('completed');
    const rows = await sql(target.url, 'SELECT s.badge_line, s.legacy_employee_id, m.badge_line AS manager FROM employees s LEFT JOIN employees m ON m.id = s.reports_to ORDER BY s.legacy_employee_id');
    expect(rows.rows).toEqual([
      { badge_line: 'Ada Lovelace', legacy_employee_id: 1, manager: null },
      { badge_line: 'Grace Hopper', legacy_employee_id: 2, manager: 'Ada Lovelace' },
      { badge_line: 'Alan Turing', legacy_employee_id: 3, manager: 'Grace Hopper' },
    ]);
    expect(report?.status).toBe('passed');
    expect(report?.checks.find((c) => c.name === 'row_content')?.summary).toMatch(/badge_line written by a model's function: checked by type and nullability only, not re-derived/);
  });

  it('at the terminal: approve has the function written and shows the program; run uses that same function without a model', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ferry-transform-cli-'));
    const fresh = await createTestDatabase('emp_target2');
    onTestFinished(async () => {
      await fresh.drop();
      await rm(home, { recursive: true, force: true });
    });
    await sql(fresh.url, `CREATE TABLE employees (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), badge_line text NOT NULL, email text, reports_to uuid REFERENCES employees(id), legacy_employee_id integer)`);
    const env = cliEnv({ sourceUrl: legacy.url, targetUrl: fresh.url }, home, 'reviewer');
    const planPath = join(home, 'employees.json');

    fake = await startFakeAnthropic([toolUse(INTENT_TOOL, fixture('employees-intent.json')), toolUse(COLUMNS_TOOL, fixture('employees-columns.json'))]);
    const planned = await runFerry({ ...env, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL }, ['plan', DESCRIPTION, '--out', planPath]);
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    await fake.close();

    fake = await startFakeAnthropic([toolUse(WRITE_TOOL, fixture('employees-functions.json'))]);
    const acks = readingAcks(JSON.parse(await readFile(planPath, 'utf8')) as MigrationPlan).flatMap((n) => ['--ack', String(n)]);
    const approved = await runFerry({ ...env, ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL }, ['approve', planPath, ...acks]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    const programPath = /the program that will run: (\S+)/.exec(approved.stdout)?.[1];
    const program = await readFile(programPath!, 'utf8');
    expect(program).toMatch(/function badgeLineFrom\(row: Pick<SourceRow, 'first_name' \| 'last_name'>\): string \{/);
    expect(program).toContain('return `${row.first_name.trim()} ${row.last_name.trim()}`;');
    expect(fake.requests).toHaveLength(1);
    await fake.close();
    fake = undefined;

    // No model now: the run takes the function the reviewer saw, kept for this revision.
    const run = await runFerry(env, ['run', planPath]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/model-written functions from/);
    const rows = await sql(fresh.url, 'SELECT badge_line FROM employees ORDER BY legacy_employee_id');
    expect(rows.rows.map((r) => r.badge_line)).toEqual(['Ada Lovelace', 'Grace Hopper', 'Alan Turing']);
  });
});

