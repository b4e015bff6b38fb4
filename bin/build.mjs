#!/usr/bin/env node
// `npm run build` (npm's `prepare` at install, `pretest` before the tests): the CLI compiled to
// JavaScript in dist/, so `ferry` starts without compiling TypeScript. One esbuild bundle from
// src/cli/main.ts, split at each dynamic import (every command is its own chunk, loaded only
// when it runs: see src/cli/commands/registry.ts). zod is bundled in (hundreds of small files
// otherwise); every other package stays external, loaded from node_modules, most of them only
// where they are used. Only types are stripped: type-checking stays `npm run typecheck`. Files
// read at run time (prompts/, the review page, the sandbox harness, expr/runtime.ts) are
// resolved from the package root (src/core/package-root.ts), so dist/ holds only JavaScript.
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { SOURCE_ROOTS, sourceState, STAMP_FILE } from './dist-state.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const started = Date.now();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const BUNDLED = new Set(['zod']);
const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !BUNDLED.has(name));
// The sources as they are before the build starts: an edit made during it leaves dist/ stale.
const before = sourceState(root);
// Each build in its own directory, switched to by renaming current.json over the old one: a
// ferry started on the previous build (a test spawned meanwhile) keeps finding its chunks.
const dir = `build-${Date.now().toString(36)}-${process.pid}`;
await esbuild.build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: join(dist, dir),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  sourcemap: 'linked',
  logLevel: 'warning',
});
// Written last: a build that died half-way is never pointed at; bin/ferry.js uses tsx until one is.
const stamp = join(dist, `${STAMP_FILE}.${process.pid}`);
writeFileSync(stamp, `${JSON.stringify({ dir, signature: before.signature })}\n`);
renameSync(stamp, join(dist, STAMP_FILE));
// Older builds go, but the one before this stays for a ferry still running on it.
const builds = readdirSync(dist).filter((d) => d.startsWith('build-') && d !== dir).sort();
for (const old of builds.slice(0, -1)) rmSync(join(dist, old), { recursive: true, force: true });
if (!process.argv.includes('--quiet')) console.log(`dist/: the ferry CLI from ${SOURCE_ROOTS.join('/, ')}/ in ${Date.now() - started} ms`);
