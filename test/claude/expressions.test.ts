import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyOverrides, approvePlan } from '../../agents/planning/index.js';
import { COLUMNS_TOOL, INTENT_TOOL, MAX_REPAIRS } from '../../agents/planning/claude/index.js';
import { parseCommandArgs } from '../../src/cli/args.js';
import { approveCmd, overridesFrom } from '../../src/cli/commands/approve.js';
import { readingItems, reviewItems, type MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { openConnections, prepareProgram, targetTableOf, type Connections } from '../../src/chain.js';
import { describeToPlanWithClaude } from '../../src/chain-claude.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { AnthropicModelClient } from '../../src/core/llm/anthropic-client.js';
import { TokenBudget } from '../../src/core/llm/budget.js';
import { renderPlan } from '../../src/present/render.js';
import { RunStore } from '../../src/store/run-store.js';
import { validateMigration } from '../../src/validation/validate.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';
import { startFakeAnthropic, toolUse, type FakeAnthropic, type Reply } from './fake-anthropic.js';
import { readingAcks } from './reading-acks.js';

/**
 * Claude proposing column expressions (issue 14) on a schema unlike the case study: legacy
 * `personnel` (first/last names with stray spaces and non-BMP text, a start timestamp, a mail
 * in any case, an office code pointing at `offices`) into `people` (full_name, joined_on date,
 * email, the office's city). The model sends only expression text; ferry parses, resolves and
 * type-checks it, sends refusals back through the repair loop, settles what is still refused
 * as review items, prefers an expression over a transform the language can say, and the plan
 * runs in the Docker sandbox and is validated row by row.
 */
const LEGACY = `
CREATE TABLE offices (office_code text PRIMARY KEY, city_name text NOT NULL);
INSERT INTO offices VALUES ('BER', 'Berlin'), ('MAD', 'Madrid'), ('OSL', 'Oslo');
CREATE TABLE personnel (
  emp_no integer PRIMARY KEY,
  first_nm varchar(40) NOT NULL,
  last_nm varchar(40) NOT NULL,
  started_at timestamp NOT NULL,
  left_at timestamp,
  mail text,
  office_code text REFERENCES offices (office_code)
);
INSERT INTO personnel VALUES
  (1, '  Ada ', 'Lovelace', '1843-07-05 23:59:59.5', '1852-11-27 10:00:00', ' Ada@Example.COM', 'BER'),
  (2, 'Zoë', 'Brontë', '1999-12-31 00:00:00', NULL, NULL, 'MAD'),
  (3, '𝒜lex', '  de la Cruz', '2020-02-29 12:30:00', NULL, 'ALEX@X.ORG', NULL),
  (4, 'O''Brien', 'Pat', '1970-01-01 00:00:00', NULL, '', 'BER');
`;

const TARGET = `
CREATE TABLE people (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_emp integer,
  full_name text NOT NULL,
  joined_on date NOT NULL,
  left_on date,
  email text,
  city text
);
CREATE TYPE site_kind AS ENUM ('capital', 'coast', 'north');
CREATE TABLE postings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), emp_ref integer, site site_kind);
`;

const DESCRIPTION = "move the personnel into people: full name from first and last, joined on the day they started, mail lower-cased, and their office's city";
// The form the whole-name rule proposes too (no part is nullable): the model agrees with it.
const FULL_NAME = "first_nm || ' ' || last_nm";

type Span = { text: string; reads_as: Record<string, unknown> };
/** The model's reading of DESCRIPTION (step 1, read_description): every word in a span, in order. */
const SPANS: Span[] = [
  { text: 'move the', reads_as: { kind: 'filler' } },
  { text: 'personnel', reads_as: { kind: 'source_table', table: 'personnel' } },
  { text: 'into', reads_as: { kind: 'filler' } },
  { text: 'people', reads_as: { kind: 'target_table', table: 'people' } },
  { text: 'full name from first and last', reads_as: { kind: 'derivation', column: 'full_name', expression: FULL_NAME } },
  { text: 'joined on the day they started', reads_as: { kind: 'derivation', column: 'joined_on', expression: 'started_at::date' } },
  { text: 'mail lower-cased', reads_as: { kind: 'derivation', column: 'email', expression: 'lower(trim(mail))' } },
  { text: "and their office's city", reads_as: { kind: 'derivation', column: 'city', expression: 'offices.city_name' } },
];
const intent = (spans: Span[] = SPANS, target = 'people') =>
  toolUse(INTENT_TOOL, { source: { table: 'personnel' }, target: { table: target }, spans, rationale: `every row of personnel into ${target}, its columns as the words say` });

type Origin = Record<string, unknown>;
const answer = (over: Record<string, Origin | null> = {}) => {
  const origins: Record<string, Origin | null> = {
    full_name: { kind: 'expression', text: FULL_NAME },
    joined_on: { kind: 'expression', text: 'started_at::date' },
    // The language can say this: ferry prefers the expression.
    email: { kind: 'transform', sources: ['mail'], description: '`lower(trim(mail))`: the address trimmed and lower-cased' },
    city: { kind: 'expression', text: 'offices.city_name' },
    left_on: { kind: 'expression', text: 'CAST(left_at AS date)' },
    legacy_emp: { kind: 'copy', source: 'emp_no' },
    ...over,
  };
  const columns = Object.entries(origins).flatMap(([target, origin]) => (origin ? [{ target, origin, why: `the description asks for ${target}` }] : []));
  return toolUse(COLUMNS_TOOL, { columns, enumMappings: [], foreignKeys: [] });
};

const column = (p: MigrationPlan, target: string) => p.columns.find((c) => c.target === target)!;

/** The tool_result text ferry sent back for request `n` (0-based). */
const feedbackOf = (fake: FakeAnthropic, n: number): string => {
  const last = fake.requests[n]!.body.messages.at(-1)!.content as Array<{ type: string; content: string; is_error?: boolean }>;
  expect(last[0]).toMatchObject({ type: 'tool_result', is_error: true });
  return last[0]!.content;
};

/** The words a POSIX shell makes of a suggested command line. */
function shellWords(line: string): string[] {
  return execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' }).split('\0').slice(0, -1);
}

describe('Claude proposes column expressions: checked by ferry, repaired, settled for review, run and validated', () => {
  let pair: DatabasePair;
  let conn: Connections;
  let fake: FakeAnthropic | undefined;

  beforeAll(async () => {
    pair = await createDatabasePair('claude_expr_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(pair.legacy.url, pair.target.url);
  });
  afterAll(async () => {
    await conn?.close();
    await pair?.drop();
  });
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const plan = async (replies: Reply[]) => {
    fake = await startFakeAnthropic(replies);
    const client = new AnthropicModelClient({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'claude-sonnet-5-5', timeoutMs: 10_000, maxRetries: 0 });
    return describeToPlanWithClaude({ description: DESCRIPTION, conn, model: { client, budget: new TokenBudget(100_000) } });
  };

  it('takes the model’s expressions as ferry parsed them, runs them in the Docker sandbox, re-derives every row, and names a planted difference', async () => {
    const { plan: draft, analysis } = await plan([intent(), answer()]);
    // The tool schema offers the expression origin, with the language's subset in its description.
    const tools = JSON.stringify(fake!.requests[0]!.body.tools);
    expect(tools).toContain('"expression"');
    expect(tools).toContain('concat_ws');
    expect(fake!.requests[0]!.body.system).toMatch(/`transform`.*only for what the subset cannot say/s);

    const full = column(draft, 'full_name');
    expect(full).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: FULL_NAME, reads: ['first_nm', 'last_nm'] } });
    // ferry built the tree from the text: typed nodes, not anything the model sent.
    expect(JSON.stringify(full.origin)).toContain('"type":"text"');
    expect(column(draft, 'joined_on')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'started_at::date' } });
    const city = column(draft, 'city');
    expect(city.origin).toMatchObject({ kind: 'expression', reads: ['offices.city_name'] });
    expect(JSON.stringify(city.origin)).toContain('"childColumns":["office_code"]');
    // The rules proposed left_at::date; the model wrote the same as CAST(… AS date): agreement.
    expect(column(draft, 'left_on')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'left_at::date' } });
    expect(column(draft, 'left_on').reason).toMatch(/Claude \(claude-sonnet-5-5\) agrees/);
    // A transform the language can say became that expression, and the reason says so.
    const email = column(draft, 'email');
    expect(email).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'lower(trim(mail))' } });
    expect(email.reason).toMatch(/a function of mail .* was proposed, but the column language says it as lower\(trim\(mail\)\), which validation re-derives row by row, so the expression is used/);
    expect(draft.columns.some((c) => c.origin.kind === 'transform')).toBe(false);
    expect(draft.source.columns).toEqual(expect.arrayContaining(['emp_no', 'first_nm', 'last_nm', 'started_at', 'left_at', 'mail', 'office_code']));
    expect((draft.notCarried ?? []).map((n) => n.column)).not.toContain('first_nm');
    // What is left to decide is the reading's alone (issue 15): no column needs review, and a
    // derivation the column already carries as that expression is not asked about a second time.
    expect(reviewItems(draft)).toEqual(readingItems(draft));
    expect(readingItems(draft).filter((i) => /the description says/.test(i))).toEqual([]);
    expect(renderPlan(draft)).toContain(`  full_name = ${FULL_NAME}\n      reads first_nm, last_nm\n`);
    expect(renderPlan(draft)).toContain('  city = offices.city_name\n      reads offices.city_name through office_code → public.offices\n');

    const acked = await applyOverrides(draft, { ack: readingAcks(draft) }, 'reviewer', createPlanProbe(conn.source, conn.target), new Date(), undefined, analysis);
    expect(reviewItems(acked)).toEqual([]);
    const approved = approvePlan(acked, 'reviewer');
    const work = await mkdtemp(join(tmpdir(), 'ferry-claude-expr-'));
    const store = await RunStore.open(pair.target.url);
    try {
      const program = await prepareProgram({ plan: approved, analysis, dir: join(work, 'people.bundle') });
      expect(program.script.typecheck.ok).toBe(true);
      const { run, report } = await executeRunForTest(store, { plan: approved, analysis, program, conn, driver: await dockerDriverForTests(), policy: defaultPolicy });
      expect(run.status).toBe('completed');
      const rows = (await pair.sql('target', 'SELECT legacy_emp, full_name, joined_on::text AS joined_on, left_on::text AS left_on, email, city FROM people ORDER BY legacy_emp')).rows;
      expect(rows).toEqual([
        { legacy_emp: 1, full_name: '  Ada  Lovelace', joined_on: '1843-07-05', left_on: '1852-11-27', email: 'ada@example.com', city: 'Berlin' },
        { legacy_emp: 2, full_name: 'Zoë Brontë', joined_on: '1999-12-31', left_on: null, email: null, city: 'Madrid' },
        { legacy_emp: 3, full_name: '𝒜lex   de la Cruz', joined_on: '2020-02-29', left_on: null, email: 'alex@x.org', city: null },
        { legacy_emp: 4, full_name: "O'Brien Pat", joined_on: '1970-01-01', left_on: null, email: '', city: 'Berlin' },
      ]);
      expect(report?.status, JSON.stringify(report?.checks.filter((c) => c.status === 'fail'))).toBe('passed');
      const content = report!.checks.find((c) => c.name === 'row_content')!;
      expect(content.summary).toMatch(/^4\/4 rows re-derived/);
      expect(content.summary).not.toMatch(/checked by type/);

      // A planted difference in a value the model derived from a parent: found by legacy key and column.
      await pair.sql('target', "UPDATE people SET city = 'Madrid ' WHERE legacy_emp = 2");
      const again = await validateMigration({ migrationId: run.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(approved, analysis), method: 'row_walk' });
      const problems = again.checks.find((c) => c.name === 'row_content')!.problems;
      expect(problems.map((p) => [p.legacyKey, p.message])).toEqual([['2', 'city is "Madrid ", expected "Madrid"']]);
    } finally {
      await store.close();
      await rm(work, { recursive: true, force: true });
    }
  });

  it('sends an expression naming a column the source lacks back to the model with the exact refusal, and takes the repaired one', async () => {
    const wrong = "first_name || ' ' || last_nm";
    const { plan: p } = await plan([intent(), answer({ full_name: { kind: 'expression', text: wrong } }), answer()]);
    const feedback = feedbackOf(fake!, 2);
    expect(feedback).toContain(`columns.full_name: the expression ${JSON.stringify(wrong)} is refused (EXPR_UNKNOWN_COLUMN): the source row has no column "first_name" (at character 1); its columns: emp_no, first_nm, last_nm`);
    expect(feedback).toMatch(/^Rejected: an expression is outside the column language/);
    expect(column(p, 'full_name')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: FULL_NAME } });
    expect(fake!.requests).toHaveLength(3);
    expect(reviewItems(p)).toEqual(readingItems(p));
  });

  it(`after ${MAX_REPAIRS} repairs a still-refused expression becomes a review item quoting it and the refusal; the rest of the answer stands`, async () => {
    const answers = ["first_name || ' ' || last_nm", 'md5(first_nm)', 'first_nm + 1'];
    const { plan: p, analysis } = await plan([intent(), ...answers.map((text) => answer({ full_name: { kind: 'expression', text } }))]);
    expect(fake!.requests).toHaveLength(2 + MAX_REPAIRS);
    expect(feedbackOf(fake!, 3)).toMatch(/"md5\(first_nm\)" is refused \(EXPR_UNSUPPORTED\): .*md5/);
    const full = column(p, 'full_name');
    // The rules' own proposal (the whole-name rule) stays pre-filled beside the refusal.
    expect(full).toMatchObject({ status: 'needs_review', confidence: 0, origin: { kind: 'expression', text: FULL_NAME } });
    expect(full.reason).toContain('Claude (claude-sonnet-5-5) proposed full_name = first_nm + 1 (the description asks for full_name), which ferry refuses:');
    expect(full.reason).toMatch(/\[EXPR_TYPE\]/);
    const item = reviewItems(p).find((i) => i.startsWith('full_name:'))!;
    expect(item).toContain('first_nm + 1');
    expect(item).toContain('ferry approve <plan> --column full_name=');
    expect(p.risk.reasons.join('\n')).toMatch(/full_name: .*expression first_nm \+ 1 was still refused after 2 repair turns/);
    expect(column(p, 'joined_on')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'started_at::date' } });
    expect(() => approvePlan(p, 'reviewer')).toThrow(/decision\(s\) a person must make/);
    // The reading's full_name derivation is not what the plan carries (the column is refused): it still waits for a person.
    expect(readingItems(p).filter((i) => i.startsWith('full_name: the description says'))).toHaveLength(1);
    expect(readingItems(p).filter((i) => i.startsWith('joined_on: the description says'))).toEqual([]);
    // A person settles it with an expression of their own; that settles the derivation too.
    const fixed = await applyOverrides(p, { column: [{ target: 'full_name', origin: FULL_NAME }] }, 'reviewer', createPlanProbe(conn.source, conn.target), new Date(), undefined, analysis);
    expect(reviewItems(fixed)).toEqual(readingItems(fixed));
    expect(readingItems(fixed).filter((i) => i.startsWith('full_name:'))).toEqual([]);
  });

  it('a model expression that disagrees with the rules’ expression goes to review with both, each a command ferry approve accepts', async () => {
    const mine = 'coalesce(left_at, started_at)::date';
    const { plan: p, analysis } = await plan([intent(), answer({ left_on: { kind: 'expression', text: mine } })]);
    const left = column(p, 'left_on');
    expect(left).toMatchObject({ status: 'needs_review', confidence: 0, origin: { kind: 'expression', text: 'left_at::date' } });
    expect(left.reason).toContain(`Claude (claude-sonnet-5-5) says = ${mine}`);
    expect(left.reason).toContain('the rules say = left_at::date');
    const commands = [...left.reason.matchAll(/ferry approve <plan> --column \S+=("[^"]+"|\S+)/g)].map((m) => m[0]);
    expect(commands).toEqual([`ferry approve <plan> --column left_on="${mine}"`, 'ferry approve <plan> --column left_on=left_at::date']);
    const probe = createPlanProbe(conn.source, conn.target);
    for (const [i, command] of commands.entries()) {
      const words = shellWords(command.replace('<plan>', 'plan.json'));
      const { values } = parseCommandArgs(approveCmd, words.slice(2));
      const next = await applyOverrides(p, overridesFrom(values), 'reviewer', probe, new Date(), undefined, analysis);
      expect(column(next, 'left_on')).toMatchObject({ status: 'overridden', origin: { kind: 'expression', text: i === 0 ? mine : 'left_at::date' } });
      expect(reviewItems(next)).toEqual(readingItems(next));
    }
  });

  it('an enum column fed by the model’s expression maps that expression’s distinct values: the rules decide, the model’s values are suggestions or agreement', async () => {
    const postings = intent(
      [
        { text: 'personnel', reads_as: { kind: 'source_table', table: 'personnel' } },
        { text: 'into people', reads_as: { kind: 'unread', why: 'the people are posted: each person becomes a posting' } },
        { text: "their office's city", reads_as: { kind: 'unread', why: "the office's city decides the site, by a value map" } },
      ],
      'postings',
    );
    const columns = toolUse(COLUMNS_TOOL, {
      columns: [
        { target: 'site', origin: { kind: 'expression', text: 'offices.city_name' }, why: "the office's city decides the site" },
        { target: 'emp_ref', origin: { kind: 'copy', source: 'emp_no' }, why: 'the old number' },
      ],
      enumMappings: [
        {
          targetColumn: 'site',
          sourceColumn: 'offices.city_name',
          values: [
            { source: 'Berlin', target: 'capital' },
            { source: 'Madrid', target: 'capital' },
          ],
        },
      ],
      foreignKeys: [],
    });
    const { plan: p } = await plan([postings, columns]);
    // The rules' guess (an enum map of a text column mapping no row by rule) gives way to the checked expression.
    expect(column(p, 'site').reason).toMatch(/the rules had enum map of \w+: \w+ maps 0\/4 rows by rule/);
    expect(column(p, 'site')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'offices.city_name', enumMapped: true } });
    const mapping = p.enumMappings.find((m) => m.targetColumn === 'site')!;
    expect(mapping.sourceColumn).toBe('offices.city_name');
    // The values and counts are the expression's on the source (through the parent), not the model's list.
    expect(Object.fromEntries(mapping.values.map((v) => [String(v.source), v.count]))).toEqual({ Berlin: 2, Madrid: 1, null: 1 });
    // No rule maps a city to these sites: each value the model named carries its suggestion and still needs a person.
    const berlin = mapping.values.find((v) => v.source === 'Berlin')!;
    expect(berlin).toMatchObject({ status: 'needs_review', target: null });
    expect(berlin.alternatives).toEqual(expect.arrayContaining([expect.objectContaining({ target: 'capital', rule: 'claude' })]));
    const items = reviewItems(p).join('\n');
    expect(items).toContain('site: source value "Berlin" (2 rows)');
    expect(items).toContain('site: source value NULL (1 rows)');
    expect(p.source.columns).toContain('office_code');
    // The column the rules' enum map read is no longer sent to the program, and the plan shows it staying behind.
    expect(p.source.columns).not.toContain('first_nm');
    expect(p.notCarried).toContainEqual({ column: 'first_nm', why: "no longer read: Claude (claude-sonnet-5-5)'s origins replaced the rules' that read it" });
  });
});
