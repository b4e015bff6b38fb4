import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type * as esbuild from 'esbuild';
import { sha256 } from '../../src/core/artifacts/hash.js';
import { CodegenError } from '../../src/core/errors.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

/** The repository root: the bundle's working directory, so module paths in it are repo-relative. */
export const REPO_ROOT = `${PACKAGE_ROOT}/`;
export const HARNESS_PATH = join(REPO_ROOT, 'sandbox', 'harness', 'harness.ts');
/** The file name of a bundle inside the directory the caller gives. */
export const BUNDLE_FILE = 'bundle.cjs';
/** The Node major bundles target unless told otherwise: the sandbox's default image. */
export const DEFAULT_BUNDLE_NODE_MAJOR = 18;

/** esbuild's target for a Node major ("node20"); the sandbox's Node, so nothing is down-levelled it can run. */
export function bundleTarget(nodeMajor: number = DEFAULT_BUNDLE_NODE_MAJOR): string {
  if (!Number.isSafeInteger(nodeMajor) || nodeMajor < DEFAULT_BUNDLE_NODE_MAJOR) {
    throw new CodegenError('BUNDLE_FAILED', `cannot bundle for Node ${nodeMajor}: the sandbox runs Node ${DEFAULT_BUNDLE_NODE_MAJOR} or later`);
  }
  return `node${nodeMajor}`;
}

export interface BundleInput {
  program: string;
  rowTypes: string;
  /** A first comment line naming what was bundled (e.g. the plan hash). Part of the hashed bytes. */
  banner?: string;
  /**
   * The entry module. Defaults to the sandbox entry: the program's transform handed to the
   * in-container harness. It may import './program' (and nothing else virtual).
   */
  entry?: string;
  /** The Node major of the sandbox that runs the bundle (FERRY_SANDBOX_NODE); default 18. Part of the hashed bytes. */
  nodeMajor?: number;
}

export interface BundleResult {
  code: string;
  /** The exact bytes hashed; write these, not a re-encoding of `code`. */
  contents: Uint8Array;
  sha256: string;
  bytes: number;
  /** The esbuild target it was built for ("node20"). */
  target: string;
  /** The files on disk esbuild read (harness, runtime), repo-relative: what a cached bundle must be checked against. */
  inputs: string[];
}

export interface BundleInfo {
  path: string;
  sha256: string;
  bytes: number;
}

/** The sandbox entry: the program's transform, run by the in-container harness. */
export function harnessEntry(harnessPath: string = HARNESS_PATH): string {
  return [
    `import { transform } from './program';`,
    `import { runHarness } from ${JSON.stringify(harnessPath)};`,
    'void runHarness(transform);',
    '',
  ].join('\n');
}

/** Parent values of one run, by `path.column`: [JSON of the first hop's key texts, the parent's value as text]. */
export type ParentValues = Readonly<Record<string, ReadonlyArray<readonly [string, string | null]>>>;

/**
 * The sandbox entry of a program whose expressions read parents: the run's dictionary is
 * handed to the program (loadParents) once, before the harness takes the first row, so the
 * program never fetches anything and the row stream's framing stays as it is.
 */
export function parentsEntry(values: ParentValues, harnessPath: string = HARNESS_PATH): string {
  return [
    `import { transform, loadParents } from './program';`,
    `import { runHarness } from ${JSON.stringify(harnessPath)};`,
    `loadParents(${JSON.stringify(values)});`,
    'void runHarness(transform);',
    '',
  ].join('\n');
}

const NAMESPACE = 'ferry-program';
/** The entry's name in the bundle; esbuild reports it as this path under REPO_ROOT. */
const ENTRY_FILE = 'ferry-entry.ts';
const ENTRY_PATH = join(REPO_ROOT, ENTRY_FILE);

/**
 * Serves the program and its row types from memory. Nothing is written to a temporary
 * directory, so no temporary path can leak into the output and change its hash, and a
 * program cannot import anything: it must be self-contained.
 */
function programFiles(input: BundleInput): esbuild.Plugin {
  return {
    name: 'ferry-program',
    setup(build) {
      build.onResolve({ filter: /^\.\/(program|row-types)$/ }, (args) =>
        args.importer === ENTRY_PATH || args.namespace === NAMESPACE ? { path: `${args.path.slice(2)}.ts`, namespace: NAMESPACE } : undefined,
      );
      build.onResolve({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
        errors: [{ text: `the transform program may not import ${JSON.stringify(args.path)}: it runs alone in the sandbox` }],
      }));
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
        contents: args.path === 'program.ts' ? input.program : input.rowTypes,
        loader: 'ts',
      }));
    },
  };
}

function describeMessages(messages: readonly esbuild.Message[]): string {
  return messages
    .map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1} ${m.text}` : m.text))
    .join('\n');
}

/**
 * Bundles program + harness into one CommonJS file for the sandbox's Node (input.nodeMajor), in memory. Not minified, so a
 * stack trace from the sandbox reads like the program; deterministic, so the same inputs give
 * the same bytes and the same sha256 (the run records which program it ran by that hash).
 */
export async function bundleProgram(input: BundleInput): Promise<BundleResult> {
  const target = bundleTarget(input.nodeMajor);
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  // Imported here: only a run or an approval bundles, and esbuild's load is not free.
  const { build } = await import('esbuild');
  try {
    result = await build({
      stdin: { contents: input.entry ?? harnessEntry(), resolveDir: REPO_ROOT, sourcefile: ENTRY_FILE, loader: 'ts' },
      absWorkingDir: REPO_ROOT,
      bundle: true,
      write: false,
      format: 'cjs',
      platform: 'node',
      target,
      minify: false,
      legalComments: 'none',
      charset: 'utf8',
      sourcemap: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [programFiles(input)],
      ...(input.banner !== undefined ? { banner: { js: input.banner } } : {}),
    });
  } catch (e) {
    const errors = (e as { errors?: esbuild.Message[] }).errors;
    throw new CodegenError('BUNDLE_FAILED', `esbuild could not bundle the program:\n${errors ? describeMessages(errors) : String(e)}`, { cause: e });
  }
  const out = result.outputFiles[0];
  if (!out || result.outputFiles.length !== 1) {
    throw new CodegenError('BUNDLE_FAILED', `esbuild produced ${result.outputFiles.length} files; expected exactly one`);
  }
  // The program and entry are served from memory (namespaced or the stdin entry): only real files are inputs.
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes(':') && p !== ENTRY_FILE).sort();
  return { code: out.text, contents: out.contents, sha256: sha256(out.contents), bytes: out.contents.byteLength, target, inputs };
}

/** Bundles and writes `bundle.cjs` into `outDir` (created if missing), atomically. */
export async function writeBundle(input: BundleInput, outDir: string): Promise<BundleInfo> {
  return writeBundleBytes(await bundleProgram(input), outDir);
}

/** Writes a bundle already built (its exact hashed bytes) as `bundle.cjs` into `outDir`, atomically. */
export async function writeBundleBytes(bundle: Pick<BundleResult, 'contents' | 'sha256' | 'bytes'>, outDir: string): Promise<BundleInfo> {
  await mkdir(outDir, { recursive: true });
  const path = resolve(outDir, BUNDLE_FILE);
  // Write then rename: a reader (or a container mounting the directory) never sees half a file.
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, bundle.contents, { mode: 0o644 });
  await rename(partial, path);
  return { path, sha256: bundle.sha256, bytes: bundle.bytes };
}
