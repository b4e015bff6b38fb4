import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeSchemas, focusSource } from '../../agents/schema-analysis/index.js';
import { applyOverrides, approvePlan, buildPlan } from '../../agents/planning/index.js';
import { MigrationPlan, reviewDecisions, reviewItems } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { openConnections, prepareProgram, type Connections } from '../../src/chain.js';
import { createPlanProbe } from '../../src/db/plan-probe.js';
import { RunStore } from '../../src/store/run-store.js';
import { saveJson } from '../../src/store/file-store.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { executeRunForTest } from '../setup/execute.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * The planning rules that propose column-language expressions, planned without a model on a
 * music-store-like schema of our own: a whole name from its parts (NOT NULL parts: `||`;
 * nullable parts into a NOT NULL column: concat_ws, pre-filled for review; into a nullable
 * column: nullif(concat_ws(…), '')), and an enum from a parent's label (tracks → media_kind.label
 * → format). Runs go through the Docker sandbox and validation re-derives every value. The rules
 * must not fire on two unrelated text columns, nor where an own column maps the enum as well.
 */
const LEGACY = `
CREATE TABLE staff (
  staff_id integer PRIMARY KEY,
  given_name varchar(30) NOT NULL,
  family_name varchar(40) NOT NULL,
  reports_to integer REFERENCES staff (staff_id)
);
INSERT INTO staff VALUES (1, 'Andrew', 'Adams', NULL), (2, 'Nancy', 'Edwards', 1), (3, ' Jane', 'Peacock ', 2), (4, 'Zoë', 'Ñúñez', 2), (5, '', 'Mononym', 1);
CREATE TABLE patrons (
  patron_no integer PRIMARY KEY,
  forename text,
  surname text,
  company text
);
INSERT INTO patrons VALUES (10, 'Luís', 'Gonçalves', 'Embraer'), (11, NULL, 'Köhler', NULL), (12, 'Eduardo', NULL, 'Woodstock'), (13, NULL, NULL, 'Anon GmbH'), (14, '𝒜da', 'Lovelace', NULL);
CREATE TABLE artists (artist_id integer PRIMARY KEY, first text, last text, country text);
INSERT INTO artists VALUES (1, 'Nina', 'Simone', 'US'), (2, NULL, 'Björk', 'IS'), (3, NULL, NULL, NULL), (4, 'Miles', NULL, 'US');
CREATE TABLE vendors (vendor_id integer PRIMARY KEY, city text NOT NULL, region text NOT NULL);
INSERT INTO vendors VALUES (1, 'Oslo', 'Viken'), (2, 'Porto', 'Norte');
CREATE TABLE media_kind (kind_no integer PRIMARY KEY, label text NOT NULL);
INSERT INTO media_kind VALUES (1, 'MPEG audio file'), (2, 'Protected MPEG-4 video file'), (3, 'AAC audio file'), (4, 'Purchased video file');
CREATE TABLE genre (genre_id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO genre VALUES (1, 'Rock'), (2, 'Jazz'), (3, 'Soundtrack');
CREATE TABLE tracks (
  track_id integer PRIMARY KEY,
  title text NOT NULL,
  composer text,
  media_kind_no integer NOT NULL REFERENCES media_kind (kind_no),
  genre_id integer REFERENCES genre (genre_id),
  ms integer
);
INSERT INTO tracks SELECT g, 'Song ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'Composer ' || (g % 4) END, 1 + g % 4, CASE WHEN g % 5 = 0 THEN NULL ELSE 1 + g % 3 END, g * 1000 FROM generate_series(1, 23) g;
CREATE TABLE loans (loan_id integer PRIMARY KEY, medium text NOT NULL, media_kind_no integer NOT NULL REFERENCES media_kind (kind_no));
INSERT INTO loans VALUES (1, 'audio', 1), (2, 'video', 2), (3, 'audio', 3), (4, 'video', 4), (5, 'audio', 2);
`;

const TARGET = `
CREATE TYPE media_format AS ENUM ('audio', 'video');
CREATE TABLE team_members (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_staff_id integer, display_name text NOT NULL);
CREATE TABLE clients (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_patron_id integer, full_name text NOT NULL, company text);
CREATE TABLE performers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_artist_id integer, name text, country text);
CREATE TABLE suppliers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_vendor_id integer, full_name text NOT NULL);
CREATE TABLE recordings (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_track_id integer, title text NOT NULL, format media_format NOT NULL, composer text);
CREATE TABLE loan_items (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), legacy_loan_id integer, format media_format NOT NULL);
`;

async function draftPlan(conn: Connections, source: string, target: string): Promise<{ plan: MigrationPlan; analysis: SchemaAnalysis }> {
  const full = await analyzeSchemas({ source: conn.source, target: conn.target });
  const s = full.source.tables.find((t) => t.name === source)!;
  const t = full.target.tables.find((x) => x.name === target)!;
  const analysis = await focusSource(full, conn.source, { schema: 'public', table: source, filters: [] });
  const plan = await buildPlan({ description: `Move ${source} into ${target}`, intent: { source: s, target: t, filters: [], evidence: ['named by the test'] }, analysis, probe: createPlanProbe(conn.source, conn.target) });
  return { plan: { ...plan, strategy: { ...plan.strategy, batchSize: 4 } }, analysis };
}

const column = (plan: MigrationPlan, name: string) => plan.columns.find((c) => c.target === name)!;

describe('rules that propose expressions: a whole name from its parts, an enum from a parent\'s label', () => {
  let pair: DatabasePair;
  let conn: Connections;
  let store: RunStore;
  let driver: SandboxDriver;
  let work: string;

  beforeAll(async () => {
    driver = await dockerDriverForTests();
    pair = await createDatabasePair('expr_rules_', { legacy: (url) => runScript(url, LEGACY), target: (url) => runScript(url, TARGET) });
    conn = await openConnections(pair.legacy.url, pair.target.url);
    store = await RunStore.open(pair.target.url);
    work = await mkdtemp(join(tmpdir(), 'ferry-expr-rules-'));
  });

  afterAll(async () => {
    await store?.close();
    await conn?.close();
    await pair?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Approved (or approved after `more`), run in the Docker sandbox, validated; the target rows by legacy key. */
  async function runApproved(plan: MigrationPlan, analysis: SchemaAnalysis, name: string): Promise<void> {
    const program = await prepareProgram({ plan, analysis, dir: join(work, `${name}.bundle`) });
    expect(program.script.typecheck.ok).toBe(true);
    const { run, report } = await executeRunForTest(store, { plan, analysis, program, conn, driver, policy: defaultPolicy });
    expect(run.status).toBe('completed');
    expect(report?.status, JSON.stringify(report?.checks.filter((c) => c.status === 'fail'))).toBe('passed');
    expect(report!.checks.find((c) => c.name === 'row_content')!.summary).toMatch(/rows re-derived/);
  }

  it('display_name NOT NULL ← given_name, family_name (both NOT NULL): `||`, mapped; run in Docker and validated', async () => {
    const { plan, analysis } = await draftPlan(conn, 'staff', 'team_members');
    const c = column(plan, 'display_name');
    expect(c).toMatchObject({ status: 'mapped', confidence: 0.8, origin: { kind: 'expression', text: "given_name || ' ' || family_name", reads: ['given_name', 'family_name'] } });
    expect(c.reason).toContain('none can be NULL, so || cannot produce NULL');
    expect(reviewItems(plan)).toEqual([]);
    expect(plan.notCarried?.map((n) => n.column)).not.toContain('given_name');
    await runApproved(approvePlan(plan, 'tester'), analysis, 'staff');
    const rows = (await pair.sql('target', 'SELECT legacy_staff_id, display_name FROM team_members ORDER BY legacy_staff_id')).rows;
    expect(rows).toEqual([
      { legacy_staff_id: 1, display_name: 'Andrew Adams' },
      { legacy_staff_id: 2, display_name: 'Nancy Edwards' },
      { legacy_staff_id: 3, display_name: ' Jane Peacock ' },
      { legacy_staff_id: 4, display_name: 'Zoë Ñúñez' },
      { legacy_staff_id: 5, display_name: ' Mononym' },
    ]);
  });

  it('full_name NOT NULL ← forename, surname (nullable): concat_ws pre-filled for review; the suggested command, run by `ferry approve`, is accepted; run and validated', async () => {
    const { plan: drafted, analysis } = await draftPlan(conn, 'patrons', 'clients');
    const c = column(drafted, 'full_name');
    expect(c).toMatchObject({ status: 'needs_review', origin: { kind: 'expression', text: "concat_ws(' ', forename, surname)" } });
    expect(c.reason).toContain('an empty string where every part is NULL');
    const decision = reviewDecisions(drafted).find((d) => d.about.startsWith('full_name:'))!;
    expect(decision.commands[0]).toBe(`ferry approve <plan> --column full_name="concat_ws(' ', forename, surname)"`);

    const { plan: saved } = await store.saveNewPlan(drafted, analysis);
    const planPath = join(work, 'clients.json');
    await saveJson(planPath, saved);
    await saveJson(join(work, 'clients.analysis.json'), analysis);
    const env = cliEnv({ sourceUrl: pair.legacy.url, targetUrl: pair.target.url }, join(work, 'home'), 'reviewer');
    // Without a decision on full_name the plan cannot be approved.
    const refused = await runFerry(env, ['approve', planPath]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('PLAN_NEEDS_REVIEW');
    // The suggested command, as a shell reads it.
    const accepted = await runFerry(env, ['approve', planPath, '--column', "full_name=concat_ws(' ', forename, surname)"]);
    expect(accepted.code, accepted.stderr).toBe(0);
    const plan = MigrationPlan.parse(JSON.parse(await readFile(planPath, 'utf8')));
    expect(plan.status).toBe('approved');
    expect(column(plan, 'full_name')).toMatchObject({ status: 'overridden', origin: { kind: 'expression', text: "concat_ws(' ', forename, surname)" } });
    await runApproved(plan, analysis, 'patrons');
    const rows = (await pair.sql('target', 'SELECT legacy_patron_id, full_name FROM clients ORDER BY legacy_patron_id')).rows;
    expect(rows).toEqual([
      { legacy_patron_id: 10, full_name: 'Luís Gonçalves' },
      { legacy_patron_id: 11, full_name: 'Köhler' },
      { legacy_patron_id: 12, full_name: 'Eduardo' },
      { legacy_patron_id: 13, full_name: '' },
      { legacy_patron_id: 14, full_name: '𝒜da Lovelace' },
    ]);
  });

  it('name (nullable) ← first, last (nullable) when the source has no name column: nullif(concat_ws(…), \'\'), NULL where no part is known', async () => {
    const { plan, analysis } = await draftPlan(conn, 'artists', 'performers');
    const c = column(plan, 'name');
    expect(c).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: "nullif(concat_ws(' ', first, last), '')" } });
    expect(c.reason).toContain('|| would make the whole name NULL');
    await runApproved(approvePlan(plan, 'tester'), analysis, 'artists');
    const rows = (await pair.sql('target', 'SELECT legacy_artist_id, name FROM performers ORDER BY legacy_artist_id')).rows;
    expect(rows).toEqual([
      { legacy_artist_id: 1, name: 'Nina Simone' },
      { legacy_artist_id: 2, name: 'Björk' },
      { legacy_artist_id: 3, name: null },
      { legacy_artist_id: 4, name: 'Miles' },
    ]);
  });

  it('does not fire on two unrelated text columns: full_name stays a required column for a person', async () => {
    const { plan } = await draftPlan(conn, 'vendors', 'suppliers');
    const c = column(plan, 'full_name');
    expect(c.origin.kind).not.toBe('expression');
    expect(c.status).toBe('needs_review');
    expect(c.reason).toContain('required (NOT NULL, no default)');
  });

  it("format ← media_kind.label (a parent's label through the legacy FK) when no own column maps the enum; run in Docker and validated", async () => {
    const { plan: drafted, analysis } = await draftPlan(conn, 'tracks', 'recordings');
    const c = column(drafted, 'format');
    expect(c).toMatchObject({ status: 'mapped', origin: { kind: 'expression', text: 'media_kind.label', enumMapped: true } });
    expect(c.reason).toContain('through media_kind_no → public.media_kind');
    expect(c.reason).toContain("name 2/2 of public.media_format's values, in 23/23 rows; those of the best column of tracks itself, title, name 0/2");
    // genre.name (Rock, Jazz, Soundtrack) reaches none of them and is not chosen.
    const mapping = drafted.enumMappings.find((m) => m.targetColumn === 'format')!;
    expect(mapping.sourceColumn).toBe('media_kind.label');
    expect(mapping.values.map((v) => v.source).sort()).toEqual(['AAC audio file', 'MPEG audio file', 'Protected MPEG-4 video file', 'Purchased video file']);
    expect(mapping.values.reduce((n, v) => n + v.count, 0)).toBe(23);
    expect(drafted.source.columns).toContain('media_kind_no');
    // Whatever value the rules could not decide is a review item quoting it; resolved as a reviewer would.
    const wrong = mapping.values.filter((v) => v.target !== (/video/.test(v.source!) ? 'video' : 'audio'));
    for (const v of wrong) expect(reviewItems(drafted).join('\n')).toContain(JSON.stringify(v.source));
    let plan = drafted;
    if (wrong.length > 0) {
      plan = await applyOverrides(plan, { map: wrong.map((v) => ({ source: v.source!, target: /video/.test(v.source!) ? 'video' : 'audio' })) }, 'tester', createPlanProbe(conn.source, conn.target), new Date(), undefined, analysis);
    }
    await runApproved(approvePlan(plan, 'tester'), analysis, 'tracks');
    const rows = (await pair.sql('target', 'SELECT legacy_track_id, format::text AS format FROM recordings WHERE legacy_track_id IN (1, 2, 3, 4) ORDER BY legacy_track_id')).rows;
    expect(rows).toEqual([
      { legacy_track_id: 1, format: 'video' },
      { legacy_track_id: 2, format: 'audio' },
      { legacy_track_id: 3, format: 'video' },
      { legacy_track_id: 4, format: 'audio' },
    ]);
  });

  it("--exclude over the parent's labels leaves rows out by predicate; --include takes one value back (the predicate rebuilt), then the rest (the predicate gone)", async () => {
    const { plan: drafted, analysis } = await draftPlan(conn, 'tracks', 'recordings');
    const apply = (plan: MigrationPlan, o: Parameters<typeof applyOverrides>[1]) => applyOverrides(plan, o, 'tester', createPlanProbe(conn.source, conn.target), new Date(), undefined, analysis);
    const count = async (where: string) => Number((await pair.sql('legacy', `SELECT count(*) AS n FROM tracks t JOIN media_kind k ON k.kind_no = t.media_kind_no WHERE ${where}`)).rows[0].n);
    const wheres = (plan: MigrationPlan) => plan.source.filters.flatMap((f) => (f.op === 'where' ? [f.predicate.source] : []));
    const r2 = await apply(drafted, { exclude: [{ source: '*video*' }] });
    expect(wheres(r2)).toEqual(["(media_kind.label) IS NULL OR (CAST((media_kind.label) AS text) <> 'Protected MPEG-4 video file' AND CAST((media_kind.label) AS text) <> 'Purchased video file')"]);
    expect(r2.source.rowCount).toBe(await count("k.label NOT LIKE '%video%'"));
    const r3 = await apply(r2, { include: [{ source: 'Purchased*' }] });
    expect(wheres(r3)).toEqual(["(media_kind.label) IS NULL OR (CAST((media_kind.label) AS text) <> 'Protected MPEG-4 video file')"]);
    expect(r3.source.rowCount).toBe(await count("k.label <> 'Protected MPEG-4 video file'"));
    expect(r3.enumMappings[0]!.values.find((v) => v.source === 'Purchased video file')).toMatchObject({ count: await count("k.label = 'Purchased video file'"), status: 'needs_review' });
    expect(r3.overrides.at(-2)!.what).toBe('filter: rows whose media_kind.label is "Purchased video file" move again (--include "Purchased*")');
    const r4 = await apply(r3, { include: [{ source: 'Protected MPEG-4 video file' }] });
    expect(r4.source.filters).toEqual([]);
    expect(r4.source.rowCount).toBe(23);
    // An --unwhere does not name an exclusion's predicate: it is taken back with --include.
    const refused = await apply(r2, { unwhere: ['*'] }).then(() => null, (e: { code: string; hint?: string }) => e);
    expect(refused).toMatchObject({ code: 'OVERRIDE_UNKNOWN_FILTER', hint: expect.stringContaining('--include') });
  });

  it("does not fire where an own column maps the enum as well as the parent's label: loans.medium stays", async () => {
    const { plan } = await draftPlan(conn, 'loans', 'loan_items');
    const c = column(plan, 'format');
    expect(c.origin).toEqual({ kind: 'enum_map', source: 'medium' });
    expect(plan.enumMappings.map((m) => m.sourceColumn)).toEqual(['medium']);
  });
});
