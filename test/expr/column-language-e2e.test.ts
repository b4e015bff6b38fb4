import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSchemas, focusSource } from '../../agents/schema-analysis/index.js';
import { applyOverrides, approvePlan, buildPlan } from '../../agents/planning/index.js';
import { MigrationPlan, reviewItems } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { openConnections, prepareProgram, targetTableOf, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { renderPlan } from '../../src/present/render.js';
import { RunStore } from '../../src/store/run-store.js';
import { saveJson } from '../../src/store/file-store.js';
import { validateMigration } from '../../src/validation/validate.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * The column language end to end on a schema of its own: legacy `crew` (people: given and
 * family names with stray spaces and unicode, an e-mail in any case, a hire timestamp, a boss
 * reference to crew itself), `patrons` (customers pointing at a crew member) and `wares`
 * (items whose kind is the label of a `ware_kinds` parent row, plus a patron), moved into
 * `staff` and `products` whose columns are derivations, not copies. A reviewer writes every
 * derivation with --column (the CLI for the people, the function the CLI calls for the
 * items); the runs go through the Docker sandbox; validation re-derives every value in SQL;
 * a value changed after the run is found and named by legacy key and column.
 */
const LEGACY = `
CREATE TABLE crew (
  crew_no integer PRIMARY KEY,
  given_name varchar(40) NOT NULL,
  family_name varchar(40) NOT NULL,
  mail text,
  hired_at timestamp NOT NULL,
  boss_no integer REFERENCES crew (crew_no),
  pay numeric(12,4),
  left_at timestamptz
);
INSERT INTO crew VALUES
  (10, '  Ann ', 'Oakley', 'Ann.Oakley@Example.COM', '2003-01-01 00:00:00', NULL, 5100.12345, NULL),
  (11, 'Zoë', 'Brontë', NULL, '1999-12-31 23:59:59.999999', 10, 4200.005, NULL),
  (12, '𝒜lex', '  de la Cruz', 'ALEX@X.ORG', '2020-02-29 12:30:00', 10, NULL, NULL),
  (13, 'Ωmega', 'Ng', 'ng@x.org', '1970-01-01 00:00:00', 11, -0.005, NULL),
  (14, 'O''Brien', 'Pat', '  spaced@X.org ', '2024-07-15 08:00:00', 12, 0, '2021-06-30 23:30:00-05');
CREATE TABLE patrons (patron_id integer PRIMARY KEY, company text NOT NULL, rep_no integer REFERENCES crew (crew_no));
INSERT INTO patrons VALUES (1, 'Acme', 11), (2, 'Globex', 13), (3, 'Initech', NULL);
CREATE TABLE ware_kinds (kind_id integer PRIMARY KEY, label text NOT NULL);
INSERT INTO ware_kinds VALUES (1, 'MPEG audio file'), (2, 'Protected AAC audio file'), (3, 'Protected MPEG-4 video file'), (4, 'Purchased AAC audio file'), (5, 'AAC audio file');
CREATE TABLE wares (
  ware_id integer PRIMARY KEY,
  title text NOT NULL,
  kind_id integer NOT NULL REFERENCES ware_kinds (kind_id),
  patron_id integer REFERENCES patrons (patron_id),
  length_ms integer,
  unit_price numeric(12,4) NOT NULL
);
INSERT INTO wares
  SELECT g, 'Track ' || g, 1 + g % 5, CASE WHEN g % 4 = 0 THEN NULL ELSE 1 + g % 3 END, CASE WHEN g % 6 = 0 THEN NULL ELSE g * 1001 END, (g * 0.125)::numeric(12,4)
    FROM generate_series(1, 40) g;
`;

const TARGET = `
CREATE TYPE media_format AS ENUM ('audio', 'video');
CREATE TABLE staff (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_no integer,
  full_name text NOT NULL,
  email text,
  hired_on date NOT NULL,
  salary numeric(10,2),
  manager_name text,
  left_on date
);
CREATE TABLE products (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  legacy_ware integer,
  name text NOT NULL,
  format media_format NOT NULL,
  duration_ms integer,
  price numeric(10,2) NOT NULL,
  account_rep text
);
`;

async function draftPlan(conn: Connections, source: string, target: string): Promise<{ plan: MigrationPlan; analysis: SchemaAnalysis }> {
  const full = await analyzeSchemas({ source: conn.source, target: conn.target });
  const s = full.source.tables.find((t) => t.name === source)!;
  const t = full.target.tables.find((x) => x.name === target)!;
  const analysis = await focusSource(full, conn.source, { schema: 'public', table: source, filters: [] });
  const plan = await buildPlan({ description: `Move ${source} into ${target}`, intent: { source: s, target: t, filters: [], evidence: ['named by the test'] }, analysis, probe: createPlanProbe(conn.source, conn.target) });
  return { plan: { ...plan, strategy: { ...plan.strategy, batchSize: 7 } }, analysis };
}

describe('the column language end to end: reviewer-written derivations, Docker sandbox, row-by-row validation', () => {
  let pair: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let driver: SandboxDriver;
  let work: string;

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    pair = await createDatabasePair('expr_e2e_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(pair.legacy.url, pair.target.url);
    store = await RunStore.open(pair.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-expr-e2e-'));
  });

  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await pair?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('people: `ferry approve --column` writes full_name, email, hired_on, salary and a boss\'s name; the sandbox runs them; validation re-derives them', async () => {
    const draft = await draftPlan(conn, 'crew', 'staff');
    // The rules propose a date from the one timestamp of a similar name: plain without a zone, for review with one.
    expect(draft.plan.columns.find((c) => c.target === 'hired_on')).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'hired_at::date' } });
    const left = draft.plan.columns.find((c) => c.target === 'left_on')!;
    expect(left).toMatchObject({ status: 'needs_review', origin: { kind: 'expression', text: 'left_at::date' } });
    expect(left.reason).toContain('--column left_on="left_at::date"');
    const { plan: saved } = await store.saveNewPlan(draft.plan, draft.analysis);
    const planPath = join(work, 'crew.json');
    await saveJson(planPath, saved);
    await saveJson(join(work, 'crew.analysis.json'), draft.analysis);
    const env = cliEnv({ sourceUrl: pair.legacy.url, targetUrl: pair.target.url }, join(work, 'home'), 'reviewer');

    // A construct outside the language is refused, naming it and what is allowed; nothing is written.
    const refused = await runFerry(env, ['approve', planPath, '--column', 'full_name=md5(given_name)']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/EXPR_UNSUPPORTED/);
    expect(refused.stderr).toMatch(/md5/);
    expect(refused.stderr).toMatch(/concat_ws/);
    const mistyped = await runFerry(env, ['approve', planPath, '--column', 'hired_on=hired_at + 1']);
    expect(mistyped.code).not.toBe(0);
    expect(mistyped.stderr).toMatch(/EXPR_TYPE/);

    const approved = await runFerry(env, [
      'approve',
      planPath,
      '--column',
      "full_name=trim(given_name) || ' ' || trim(family_name)",
      '--column',
      'email=lower(trim(mail))',
      '--column',
      'hired_on=hired_at::date',
      '--column',
      'salary=round(pay, 2)',
      '--column',
      "manager_name=boss.given_name || ' ' || boss.family_name",
      '--column',
      'legacy_no=crew_no',
      '--column',
      'left_on=left_at::date',
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    const plan = MigrationPlan.parse(JSON.parse(await readFile(planPath, 'utf8')));
    expect(plan.status).toBe('approved');
    const full = plan.columns.find((c) => c.target === 'full_name')!;
    expect(full.origin).toMatchObject({ kind: 'expression', text: "trim(given_name) || ' ' || trim(family_name)", reads: ['given_name', 'family_name'] });
    expect(plan.columns.find((c) => c.target === 'manager_name')!.origin).toMatchObject({ kind: 'expression', reads: ['boss.given_name', 'boss.family_name'] });
    expect(plan.source.columns).toEqual(expect.arrayContaining(['given_name', 'family_name', 'mail', 'hired_at', 'pay', 'boss_no']));
    expect(plan.overrides.map((o) => o.what).join('\n')).toContain("full_name: origin");
    const shown = renderPlan(plan);
    expect(shown).toContain("  full_name = trim(given_name) || ' ' || trim(family_name)\n      reads given_name, family_name\n");
    expect(shown).toContain('  manager_name = boss.given_name || \' \' || boss.family_name\n      reads boss.given_name through boss_no → public.crew; boss.family_name through boss_no → public.crew\n');
    expect(shown).not.toMatch(/given_name +no column of staff matches it/);

    const program = await prepareProgram({ plan, analysis: draft.analysis, dir: join(work, 'crew.bundle') });
    expect(program.script.typecheck.ok).toBe(true);
    expect(program.script.program).toContain('export function loadParents');
    expect(program.script.program.match(/^export const pg = /gm)).toHaveLength(1);

    const { run, report } = await executeRunForTest(store, { plan, analysis: draft.analysis, program, conn, driver, policy: defaultPolicy });
    expect(run.status).toBe('completed');
    const rows = (await pair.sql('target', 'SELECT legacy_no, full_name, email, hired_on::text AS hired_on, salary::text AS salary, manager_name, left_on::text AS left_on FROM staff ORDER BY legacy_no')).rows;
    expect(rows).toEqual([
      { legacy_no: 10, full_name: 'Ann Oakley', email: 'ann.oakley@example.com', hired_on: '2003-01-01', salary: '5100.12', manager_name: null, left_on: null },
      { legacy_no: 11, full_name: 'Zoë Brontë', email: null, hired_on: '1999-12-31', salary: '4200.01', manager_name: '  Ann  Oakley', left_on: null },
      { legacy_no: 12, full_name: '𝒜lex de la Cruz', email: 'alex@x.org', hired_on: '2020-02-29', salary: null, manager_name: '  Ann  Oakley', left_on: null },
      { legacy_no: 13, full_name: 'Ωmega Ng', email: 'ng@x.org', hired_on: '1970-01-01', salary: '-0.01', manager_name: 'Zoë Brontë', left_on: null },
      { legacy_no: 14, full_name: "O'Brien Pat", email: 'spaced@x.org', hired_on: '2024-07-15', salary: '0.00', manager_name: '𝒜lex   de la Cruz', left_on: '2021-07-01' },
    ]);
    expect(report?.status, JSON.stringify(report?.checks.filter((c) => c.status === 'fail'))).toBe('passed');
    const content = report!.checks.find((c) => c.name === 'row_content')!;
    expect(content.summary).toMatch(/^5\/5 rows re-derived/);
    expect(content.summary).not.toMatch(/checked by type/);
  });

  it('items: format from a parent\'s name mapped into an enum, a rep two hops away; a value changed after the run is named by legacy key and column', async () => {
    const draft = await draftPlan(conn, 'wares', 'products');
    const probe = createPlanProbe(conn.source, conn.target);
    // The same function `ferry approve` calls, with the analysis it loads beside the plan.
    const columns = [
      { target: 'format', origin: 'kind.label' },
      { target: 'account_rep', origin: "patron.rep.family_name || ', ' || patron.rep.given_name" },
      { target: 'name', origin: "title || coalesce(' (' || (length_ms / 1000)::text || ' s)', '')" },
      { target: 'price', origin: 'unit_price' },
      { target: 'duration_ms', origin: 'length_ms' },
      { target: 'legacy_ware', origin: 'ware_id' },
    ];
    let plan = await applyOverrides(draft.plan, { column: columns }, 'reviewer', probe, new Date(), undefined, draft.analysis);
    const mapping = plan.enumMappings.find((m) => m.targetColumn === 'format')!;
    expect(mapping.sourceColumn).toBe('kind.label');
    expect(mapping.values.map((v) => v.source).sort()).toEqual(['AAC audio file', 'MPEG audio file', 'Protected AAC audio file', 'Protected MPEG-4 video file', 'Purchased AAC audio file']);
    expect(mapping.values.reduce((n, v) => n + v.count, 0)).toBe(40);
    // Whatever the rules could not decide is flagged with the value quoted, and --map resolves it.
    const open = mapping.values.filter((v) => v.status === 'needs_review');
    for (const v of open) expect(reviewItems(plan).join('\n')).toContain(JSON.stringify(v.source));
    const map = mapping.values.filter((v) => v.target === null || v.target !== (/video/.test(v.source ?? '') ? 'video' : 'audio')).map((v) => ({ source: v.source!, target: /video/.test(v.source ?? '') ? 'video' : 'audio' }));
    if (map.length > 0) plan = await applyOverrides(plan, { map }, 'reviewer', probe, new Date(), undefined, draft.analysis);
    expect(reviewItems(plan)).toEqual([]);
    plan = approvePlan(plan, 'reviewer');
    expect(renderPlan(plan)).toContain('  format = kind.label\n      reads kind.label through kind_id → public.ware_kinds; each value through the enum mapping below\n');
    expect(renderPlan(plan)).toContain('reads patron.rep.family_name through patron_id → public.patrons, then rep_no → public.crew;');

    const program = await prepareProgram({ plan, analysis: draft.analysis, dir: join(work, 'wares.bundle') });
    const { run, report } = await executeRunForTest(store, { plan, analysis: draft.analysis, program, conn, driver, policy: defaultPolicy });
    expect(run.status).toBe('completed');
    expect(report?.status, JSON.stringify(report?.checks.filter((c) => c.status === 'fail'))).toBe('passed');
    const sample = (await pair.sql('target', `SELECT legacy_ware, name, format::text AS format, price::text AS price, account_rep FROM products WHERE legacy_ware IN (2, 3, 4, 7, 12) ORDER BY legacy_ware`)).rows;
    expect(sample).toEqual([
      { legacy_ware: 2, name: 'Track 2 (2 s)', format: 'video', price: '0.25', account_rep: null },
      { legacy_ware: 3, name: 'Track 3 (3 s)', format: 'audio', price: '0.38', account_rep: 'Brontë, Zoë' },
      { legacy_ware: 4, name: 'Track 4 (4 s)', format: 'audio', price: '0.50', account_rep: null },
      { legacy_ware: 7, name: 'Track 7 (7 s)', format: 'video', price: '0.88', account_rep: 'Ng, Ωmega' },
      { legacy_ware: 12, name: 'Track 12', format: 'video', price: '1.50', account_rep: null },
    ]);

    // A planted difference in one derived value: validation re-derives it on the source and names the row and column.
    await pair.sql('target', "UPDATE products SET account_rep = 'Ng, Omega' WHERE legacy_ware = 7");
    const again = await validateMigration({ migrationId: run.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, draft.analysis) });
    expect(again.status).toBe('failed');
    const content = again.checks.find((c) => c.name === 'row_content')!;
    expect(content.status).toBe('fail');
    expect(content.problems).toHaveLength(1);
    expect(content.problems[0]!.legacyKey).toBe('7');
    expect(content.problems[0]!.message).toContain('account_rep');
    // The row walk (validation's other method) re-derives the same value in SQL per row and finds the same row.
    const walked = await validateMigration({ migrationId: run.migrationId, source: conn.source, target: conn.target, targetTable: targetTableOf(plan, draft.analysis), method: 'row_walk' });
    const walkedContent = walked.checks.find((c) => c.name === 'row_content')!;
    expect(walkedContent.problems.map((p) => [p.legacyKey, p.message])).toEqual([['7', 'account_rep is "Ng, Omega", expected "Ng, Ωmega"']]);
  });

  it("items: --exclude and --where on a plan whose enum is fed by a parent's name: the rows left out by predicate, the values recounted by the expression", async () => {
    const draft = await draftPlan(conn, 'wares', 'products');
    const probe = createPlanProbe(conn.source, conn.target);
    let plan = await applyOverrides(draft.plan, { column: [{ target: 'format', origin: 'kind.label' }] }, 'reviewer', probe, new Date(), undefined, draft.analysis);
    // A glob over the derived values: there is no column "kind.label" to exclude on, so the rows go by predicate.
    plan = await applyOverrides(plan, { exclude: [{ source: 'Protected*' }] }, 'reviewer', probe, new Date(), undefined, draft.analysis);
    const where = plan.source.filters.filter((f) => f.op === 'where');
    expect(where).toHaveLength(1);
    expect(plan.overrides.at(-1)!.what).toContain('"Protected AAC audio file", "Protected MPEG-4 video file"');
    const left = (await pair.sql('legacy', "SELECT count(*)::int AS n FROM wares w JOIN ware_kinds k USING (kind_id) WHERE k.label NOT LIKE 'Protected%'")).rows[0].n;
    expect(plan.source.rowCount).toBe(left);
    const mapping = plan.enumMappings.find((m) => m.targetColumn === 'format')!;
    expect(mapping.values.map((v) => v.source).sort()).toEqual(['AAC audio file', 'MPEG audio file', 'Purchased AAC audio file']);
    expect(mapping.values.reduce((n, v) => n + v.count, 0)).toBe(left);
    // A later --where on the same plan recounts the derived values under both conditions.
    plan = await applyOverrides(plan, { where: ['unit_price > 2'] }, 'reviewer', probe, new Date(), undefined, draft.analysis);
    const both = (await pair.sql('legacy', "SELECT count(*)::int AS n FROM wares w JOIN ware_kinds k USING (kind_id) WHERE k.label NOT LIKE 'Protected%' AND unit_price > 2")).rows[0].n;
    expect(plan.source.rowCount).toBe(both);
    expect(plan.enumMappings.find((m) => m.targetColumn === 'format')!.values.reduce((n, v) => n + v.count, 0)).toBe(both);
  });
});
