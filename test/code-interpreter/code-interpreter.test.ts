import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { encodeRows, programFrameOf, programReader, type ProgramFrame } from '../../sandbox/protocol.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleScript, generateScript, typecheckProgram } from '../../agents/code-interpreter/index.js';
import { GeneratedScript } from '../../src/core/artifacts/generated-script.js';
import { contentHash } from '../../src/core/artifacts/hash.js';
import type { ColumnMapping, MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { CodegenError, FerryError, PlanError } from '../../src/core/errors.js';
import { TECHNICIAN_ID, analysisFixture, planFixture } from './fixtures.js';
import { loadTransform, type Transform } from './load.js';

const scratch: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-ci-test-'));
  scratch.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

/** The error a promise rejects with, for asserting on its class, code and message together. */
async function rejection(p: Promise<unknown>): Promise<FerryError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

/** A program written by hand against the fixture's row types, varied per test. */
function handProgram(body: string, signature = 'export function transform(row: SourceRow): ProgramOutput'): string {
  return [
    "import type { ProgramOutput, SourceRow } from './row-types';",
    '',
    `${signature} {`,
    body,
    '}',
    '',
  ].join('\n');
}

const VALID_BODY = `  return {
    technician_id: '${TECHNICIAN_ID}',
    role_type: row.name.startsWith('DT') ? 'designing' : 'manufacturing',
    role_name: row.name,
    abbreviation: row.abbrev,
    legacy_role_id: row.id,
  };`;

describe('Code Interpreter on the seed case', () => {
  let analysis: SchemaAnalysis;
  let plan: MigrationPlan;
  let script: GeneratedScript;
  let transform: Transform;

  beforeAll(async () => {
    analysis = analysisFixture();
    plan = planFixture(analysis);
    script = await generateScript({ plan, analysis });
    transform = await loadTransform(script);
  });

  it('makes a valid artifact whose program type-checks', () => {
    expect(GeneratedScript.safeParse(script).success).toBe(true);
    expect(script.typecheck).toEqual({ ok: true, diagnostics: [] });
    expect(script.planHash).toBe(contentHash(plan));
    expect(script.generator.kind).toBe('deterministic');
    expect(script.bundle.bytes).toBeGreaterThan(0);
    expect(script.bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('writes row types with the enum union, the picked source row and exactly the program columns', () => {
    const text = script.rowTypes;
    expect(text).toContain(
      "export type TechnicianType =\n  | 'designing'\n  | 'manufacturing'\n  | 'master'\n  | 'quality_control'\n  | 'remote'\n  | 'sectioning';",
    );
    expect(text).toContain("export type SourceRow = Pick<DispatchRoleRow, 'id' | 'name' | 'abbrev'>;");
    expect(text).toContain('export interface DispatchRoleRow {');
    expect(text).toContain('export interface TechnicianRolesRow {');
    expect(text).toMatch(/\n {2}order: number \| null;\n/);
    const output = text.slice(text.indexOf('export interface ProgramOutput {'));
    const props = [...output.matchAll(/^ {2}([^\s/*][^:]*):/gm)].map((m) => m[1]);
    expect(props).toEqual(['technician_id', 'role_type', 'role_name', 'abbreviation', 'legacy_role_id']);
    expect(output).toContain('role_type: TechnicianType;');
    expect(output).toContain('abbreviation: string | null;');
    // Where it came from, for a reader of the file on its own.
    expect(text).toContain(plan.analysisHash);
    expect(text).toContain('legacy (PostgreSQL 17.6) public.dispatch_role where group_id = 11');
    expect(text).toContain('target (PostgreSQL 17.6) public.technician_roles');
  });

  it('writes a program a reviewer can follow: plan header, one mapping line per value with its rule, the FK reason', () => {
    const p = script.program;
    expect(p).toContain(`Plan:       ${plan.id}, revision 2, approved 2026-11-24T02:05:00.000Z by ana`);
    expect(p).toContain(`Plan hash:  ${contentHash(plan)}`);
    expect(p).toContain(`Analysis:   ${plan.analysisHash}`);
    expect(p).toContain("import type { ProgramOutput, SourceRow, TechnicianType } from './row-types';");
    expect(p).toMatch(/\['MT-IPR\/Sticker', 'manufacturing'\], +\/\/ learned_abbreviation: token "MT" .*\(3 rows, confidence 0\.85\)\n/);
    expect(p).toMatch(/\['Supervisor', 'master'\], +\/\/ synonym: /);
    expect(p.match(/^ {2}\[.*\], +\/\/ /gm)).toHaveLength(5);
    expect(p).toContain('Why: the reviewer chose the lead technician profile to own the role templates');
    expect(p).toContain(`const TECHNICIAN_ID = '${TECHNICIAN_ID}';`);
    expect(p).toContain('export function transform(row: SourceRow): ProgramOutput {');
    // The columns it leaves alone are named, with who fills them.
    expect(p).toMatch(/ \* {3}id +a fresh uuid from the orchestrator/);
    expect(p).toMatch(/ \* {3}is_active +the database default, true/);
  });

  it('maps rows: enum by name, copies, the chosen profile, and nothing else', () => {
    expect(transform({ id: 7, name: 'MT-IPR/Sticker', abbrev: null })).toEqual({
      technician_id: TECHNICIAN_ID,
      role_type: 'manufacturing',
      role_name: 'MT-IPR/Sticker',
      abbreviation: null,
      legacy_role_id: 7,
    });
    expect(transform({ id: 8, name: 'DT-IDB', abbrev: 'DT' })).toMatchObject({ role_type: 'designing', abbreviation: 'DT' });
    expect(transform({ id: 9, name: 'Supervisor', abbrev: 'SUP' })).toMatchObject({ role_type: 'master' });
    expect(Object.keys(transform({ id: 9, name: 'Supervisor', abbrev: 'SUP' }))).not.toContain('id');
  });

  it('throws naming a value the mapping does not cover, instead of defaulting it', () => {
    expect(() => transform({ id: 10, name: 'Quality Inspector', abbrev: null })).toThrowError(/role_type ← name: source value "Quality Inspector" is not in the approved mapping/);
    // The mapping is a Map, so names of Object.prototype members are values like any other.
    expect(() => transform({ id: 11, name: 'constructor', abbrev: null })).toThrowError(/"constructor"/);
    expect(() => transform({ id: 12, name: '__proto__', abbrev: null })).toThrowError(/"__proto__"/);
    expect(() => transform({ id: 13, name: null, abbrev: null })).toThrowError(/source value null/);
  });

  it('is deterministic: the same plan gives the same program, row types and bundle', async () => {
    const again = await generateScript({ plan, analysis });
    expect(again.program).toBe(script.program);
    expect(again.rowTypes).toBe(script.rowTypes);
    expect(again.bundle).toEqual(script.bundle);
  });

  it('bundles twice into the same bytes, the ones the artifact recorded', async () => {
    const [a, b] = [await tempDir(), await tempDir()];
    const first = await bundleScript(script, a);
    const second = await bundleScript(script, b);
    expect(first.sha256).toBe(script.bundle.sha256);
    expect(second.sha256).toBe(first.sha256);
    expect(first.bytes).toBe(script.bundle.bytes);
    expect(first.path).toBe(join(a, 'bundle.cjs'));
    const code = await readFile(first.path, 'utf8');
    expect(code.startsWith(`// ferry transform bundle for plan ${script.planHash}`)).toBe(true);
    // Readable: not minified, and the program is recognisable in it.
    expect(code).toContain('function transform(row)');
    expect(code).toContain('// sandbox/harness/harness.ts');
    expect(code).not.toContain(a);
  });

  it('refuses to write a bundle that is not the one the artifact recorded', async () => {
    const tampered = { ...script, program: script.program.replace("'Supervisor', 'master'", "'Supervisor', 'remote'") };
    const e = await rejection(bundleScript(tampered, await tempDir()));
    expect(e).toBeInstanceOf(CodegenError);
    expect(e.code).toBe('BUNDLE_MISMATCH');
  });

  it('runs inside the real harness: rows in over the unix socket, transformed rows (or the failing key) out', async () => {
    const dir = await tempDir();
    const bundle = await bundleScript(script, dir);
    const socketPath = join(dir, 'stream.sock');
    const server = createServer();
    server.listen(socketPath);
    await once(server, 'listening');
    const token = 'c0ffee'.repeat(8);
    const child = spawn(process.execPath, [bundle.path], { env: { FERRY_STREAM: socketPath, FERRY_STREAM_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    // If the program dies, every wait below fails at once with its stderr instead of hanging.
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`the bundle exited (${String(code)}) early: ${stderr}`);
    });
    exited.catch(() => undefined);
    try {
      const [socket] = (await Promise.race([once(server, 'connection'), exited])) as [Socket];
      // Frames as the orchestrator reads them: JSON control lines, rows frames decoded.
      const reader = programReader(1024 * 1024);
      const frames: ProgramFrame[] = [];
      let arrived: () => void = () => undefined;
      socket.on('data', (chunk: Buffer) => {
        const { units, violation } = reader.push(chunk);
        if (violation) throw new Error(violation.message);
        for (const unit of units) {
          const parsed = programFrameOf(unit);
          if (!parsed.ok) throw new Error(parsed.violation.message);
          frames.push(parsed.frame);
        }
        arrived();
      });
      const next = async (): Promise<Record<string, unknown>> => {
        while (frames.length === 0) await Promise.race([new Promise<void>((resolve) => (arrived = resolve)), exited]);
        const frame = frames.shift()!;
        // Rows come without a prototype; compared as plain objects.
        return JSON.parse(JSON.stringify(frame)) as Record<string, unknown>;
      };
      const sendRows = (b: number, rows: { k: string; r: Record<string, unknown> }[]) => {
        const f = encodeRows(b, rows);
        socket.write(f.head + f.body);
      };
      const send = (frame: unknown) => socket.write(`${JSON.stringify(frame)}\n`);

      // The harness proves it is the run's program with the secret from its environment.
      expect(await next()).toEqual({ v: 1, t: 'ready', token });
      sendRows(1, [{ k: '7', r: { id: 7, name: 'DT-IDB', abbrev: 'DT' } }, { k: '8', r: { id: 8, name: 'Supervisor', abbrev: null } }]);
      expect(await next()).toEqual({
        v: 1,
        t: 'rows',
        b: 1,
        rows: [
          { k: '7', r: { technician_id: TECHNICIAN_ID, role_type: 'designing', role_name: 'DT-IDB', abbreviation: 'DT', legacy_role_id: 7 } },
          { k: '8', r: { technician_id: TECHNICIAN_ID, role_type: 'master', role_name: 'Supervisor', abbreviation: null, legacy_role_id: 8 } },
        ],
      });
      sendRows(2, [{ k: '9', r: { id: 9, name: 'Janitor', abbrev: null } }]);
      const error = await next();
      expect(error).toMatchObject({ t: 'error', b: 2, k: '9' });
      expect(String(error.message)).toContain('"Janitor"');
      const exit = once(child, 'exit');
      send({ v: 1, t: 'end' });
      expect(await next()).toEqual({ v: 1, t: 'done' });
      expect((await exit)[0]).toBe(0);
    } finally {
      child.kill();
      server.close();
    }
  });
});

describe('Code Interpreter refuses what it must not run', () => {
  const analysis = analysisFixture();
  const plan = planFixture(analysis);

  it('refuses a draft plan', async () => {
    const e = await rejection(generateScript({ plan: planFixture(analysis, { status: 'draft' }), analysis }));
    expect(e).toBeInstanceOf(PlanError);
    expect(e.code).toBe('PLAN_NOT_APPROVED');
  });

  it('refuses an approved plan that still has a value needing review', async () => {
    const open = structuredClone(plan);
    const first = open.enumMappings[0]?.values[0];
    if (!first) throw new Error('fixture has no enum values');
    Object.assign(first, { target: null, status: 'needs_review' });
    const e = await rejection(generateScript({ plan: open, analysis }));
    expect(e.code).toBe('PLAN_NEEDS_REVIEW');
    expect(e.message).toContain('"Manufacturing Technician"');
  });

  it('refuses a plan made from another analysis', async () => {
    const e = await rejection(generateScript({ plan: { ...plan, analysisHash: 'f'.repeat(64) }, analysis }));
    expect(e.code).toBe('PLAN_ANALYSIS_MISMATCH');
  });

  it('refuses a plan that reads a column it does not select, naming it', async () => {
    const bad = structuredClone(plan);
    const roleName = bad.columns.find((c) => c.target === 'role_name');
    if (!roleName) throw new Error('fixture has no role_name');
    roleName.origin = { kind: 'copy', source: 'type' };
    const e = await rejection(generateScript({ plan: bad, analysis }));
    expect(e.code).toBe('PLAN_INCONSISTENT');
    expect(e.message).toContain('target column "role_name" reads source column "type", which is not among the selected source columns');
  });

  it('refuses a plan that leaves a NOT NULL column without a default to the database', async () => {
    const bad = structuredClone(plan);
    bad.columns = bad.columns.filter((c) => c.target !== 'role_name');
    const e = await rejection(generateScript({ plan: bad, analysis }));
    expect(e.code).toBe('PLAN_INCONSISTENT');
    expect(e.message).toContain('target column "role_name" is NOT NULL and has no default, but the plan gives it no origin');
  });

  it('refuses a conversion it cannot make faithfully', async () => {
    const a = analysisFixture({ extraTarget: { owner: { pgType: 'uuid', category: 'uuid' } } });
    const p = planFixture(a, { extraColumns: [mapping('owner', 'uuid', { kind: 'cast', source: 'id', to: 'uuid' })] });
    const e = await rejection(generateScript({ plan: p, analysis: a }));
    expect(e).toBeInstanceOf(CodegenError);
    expect(e.code).toBe('UNSUPPORTED_CONVERSION');
    expect(e.message).toContain('owner (uuid) ← id (integer)');
  });
});

describe('Code Interpreter with a written program (programOverride)', () => {
  const analysis = analysisFixture();
  const plan = planFixture(analysis);

  async function typecheckFailure(program: string): Promise<CodegenError> {
    const e = await rejection(generateScript({ plan, analysis, programOverride: program }));
    expect(e).toBeInstanceOf(CodegenError);
    expect(e.code).toBe('PROGRAM_TYPECHECK_FAILED');
    return e as CodegenError;
  }

  it('accepts a correct hand-written program and records it as an override', async () => {
    const program = handProgram(VALID_BODY);
    const script = await generateScript({ plan, analysis, programOverride: program });
    expect(script.program).toBe(program);
    expect(script.generator.version).toMatch(/\+override$/);
    const transform = await loadTransform(script);
    expect(transform({ id: 1, name: 'DT-IDB', abbrev: null })).toMatchObject({ role_type: 'designing', legacy_role_id: 1 });
  });

  it('fails the check naming a source column that does not exist', async () => {
    const e = await typecheckFailure(handProgram(VALID_BODY.replace('role_name: row.name', 'role_name: row.nonexistent')));
    expect(e.message).toMatch(/program\.ts:7:\d+ TS2339 Property 'nonexistent' does not exist on type 'SourceRow'/);
    expect(e.details?.diagnostics).toEqual([expect.objectContaining({ file: 'program.ts', line: 7, code: 2339 })]);
  });

  it('fails the check naming a source column the plan does not select', async () => {
    const e = await typecheckFailure(handProgram(VALID_BODY.replace('role_name: row.name', 'role_name: String(row.type)')));
    expect(e.message).toContain("Property 'type' does not exist on type 'SourceRow'");
  });

  it('fails the check naming a target column that does not exist', async () => {
    const e = await typecheckFailure(handProgram(VALID_BODY.replace('role_name: row.name', 'role_nme: row.name')));
    expect(e.message).toContain("'role_nme' does not exist in type 'ProgramOutput'");
  });

  it('names an unknown column even when the program does not annotate its return type', async () => {
    const e = await typecheckFailure(
      handProgram(VALID_BODY.replace('legacy_role_id: row.id,', 'legacy_role_id: row.id,\n    legacy_group: 11,'), 'export function transform(row: SourceRow)'),
    );
    expect(e.message).toContain('columnsNotInProgramOutput: "legacy_group"');
  });

  it('fails the check for a wrong value type and for a missing column', async () => {
    const wrongValue = await typecheckFailure(handProgram(VALID_BODY.replace("'designing' : 'manufacturing'", "'designing' : 'janitor'")));
    expect(wrongValue.message).toContain(`Type '"janitor"' is not assignable to type 'TechnicianType'`);
    const missing = await typecheckFailure(handProgram(VALID_BODY.replace('    abbreviation: row.abbrev,\n', '')));
    expect(missing.message).toContain("Property 'abbreviation' is missing");
  });

  it('fails the check for a program that does not export transform', async () => {
    const e = await typecheckFailure(handProgram(VALID_BODY, 'function transformRow(row: SourceRow): ProgramOutput'));
    expect(e.message).toContain("has no exported member 'transform'");
  });

  it('gives the program no Node: process, require and imports fail the check', async () => {
    const e = await typecheckFailure(`import { readFileSync } from 'node:fs';\n${handProgram(VALID_BODY.replace('row.name,\n', 'process.env.NAME ?? readFileSync("/etc/passwd", "utf8"),\n'))}`);
    expect(e.message).toContain("Cannot find module 'node:fs'");
    expect(e.message).toContain("Cannot find name 'process'");
  });

  it('lets a program log through console', () => {
    const result = typecheckProgram({ program: "console.log('hello');\nexport {};\n", rowTypes: 'export type SourceRow = {}; export type ProgramOutput = {};' });
    // Only the contract complaint (no transform), nothing about console.
    expect(result.diagnostics.map((d) => d.message).join('\n')).not.toContain('console');
  });
});

function mapping(target: string, targetType: string, origin: ColumnMapping['origin'], reason = `test column ${target}`): ColumnMapping {
  return { target, targetType, origin, reason, confidence: 0.9, status: 'mapped' };
}

describe('Code Interpreter with awkward names, casts and constants', () => {
  const analysis = analysisFixture({
    extraSource: { 'weird col': { pgType: 'text', category: 'string' } },
    extraTarget: {
      'sort order': { pgType: 'integer', category: 'integer' },
      'weird col': { pgType: 'text', category: 'string' },
      legacy_code: { pgType: 'text', category: 'string' },
      rank: { pgType: 'smallint', category: 'integer' },
      kind: { pgType: 'text', category: 'string', nullable: false },
      source_system: { pgType: 'text', category: 'string' },
      // Computed: a plain `__proto__:` key would set the prototype, which is the point of the test.
      ['__proto__']: { pgType: 'text', category: 'string' },
    },
  });
  const plan = planFixture(analysis, {
    extraSourceColumns: ['type', 'order', 'weird col'],
    extraColumns: [
      mapping('sort order', 'integer', { kind: 'copy', source: 'order' }),
      mapping('weird col', 'text', { kind: 'copy', source: 'weird col' }),
      mapping('legacy_code', 'text', { kind: 'cast', source: 'id', to: 'string' }, 'the legacy id as text, for searching'),
      mapping('rank', 'smallint', { kind: 'cast', source: 'type', to: 'integer' }),
      mapping('kind', 'text', { kind: 'copy', source: 'type' }),
      mapping('source_system', 'text', { kind: 'constant', value: 'dispatch_role' }, 'every row says where it came from'),
      mapping('__proto__', 'text', { kind: 'copy', source: 'abbrev' }),
    ],
  });
  let script: GeneratedScript;
  let transform: Transform;
  beforeAll(async () => {
    script = await generateScript({ plan, analysis });
    transform = await loadTransform(script);
  });

  it('quotes what needs quoting and still type-checks', () => {
    expect(script.typecheck.ok).toBe(true);
    expect(script.rowTypes).toContain("  'weird col': string | null;");
    expect(script.rowTypes).toContain("  'sort order': number | null;");
    expect(script.rowTypes).toContain("  | 'order'\n  | 'weird col'\n>;");
    expect(script.program).toContain("'sort order': row.order,");
    expect(script.program).toContain("'weird col': row['weird col'],");
    expect(script.program).toContain("['__proto__']: row.abbrev,");
  });

  it('converts by the target column: integer → text is a string, text → smallint parses strictly', () => {
    const out = transform({ id: 7, name: 'DT-IDB', abbrev: 'DT', type: ' 42 ', order: 3, 'weird col': 'x y' });
    expect(out).toMatchObject({
      role_type: 'designing',
      'sort order': 3,
      'weird col': 'x y',
      legacy_code: '7',
      rank: 42,
      kind: ' 42 ',
      source_system: 'dispatch_role',
    });
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('DT');
    expect(JSON.parse(JSON.stringify(out))).toHaveProperty('__proto__', 'DT');

    const base = { id: 7, name: 'DT-IDB', abbrev: null, order: null, 'weird col': null };
    expect(() => transform({ ...base, type: '4x2' })).toThrowError('rank ← type: "4x2" is not a smallint (-32768 to 32767)');
    expect(() => transform({ ...base, type: '4.5' })).toThrowError(/"4\.5" is not a smallint/);
    expect(() => transform({ ...base, type: '40000' })).toThrowError(/"40000" is not a smallint/);
    expect(() => transform({ ...base, type: '' })).toThrowError(/"" is not a smallint/);
  });

  it('keeps null as null, except into a NOT NULL column, which fails the row', () => {
    const base = { id: 7, name: 'DT-IDB', abbrev: null, order: null, 'weird col': null };
    expect(() => transform({ ...base, type: null })).toThrowError('kind ← type: source value is null, but the target column is NOT NULL');
    const out = transform({ ...base, type: '1' });
    expect(out).toMatchObject({ 'sort order': null, 'weird col': null, rank: 1, kind: '1' });
  });
});
