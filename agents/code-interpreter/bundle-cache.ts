import { createRequire } from 'node:module';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../../src/core/artifacts/hash.js';
import { BUNDLE_FILE, REPO_ROOT, bundleProgram, bundleTarget, writeBundleBytes, type BundleInfo, type BundleInput } from './bundle.js';

/**
 * A bundle ferry built once for exactly this program need not be built again: `ferry approve`
 * bundles the program, and `ferry run` of the same approved plan generates the same text.
 *
 * Trust sits in the run store, not on disk: the store pins the bundle's sha256 under a key of
 * everything that makes the bytes (program, row types, banner, entry, target, esbuild's
 * version, and the content of every file esbuild read: the harness and what it imports). A
 * run reuses `bundle.cjs` only when its bytes hash to that pin; any other bytes on disk are
 * never run (they are rebuilt from the approved program, and the person is told). A change to
 * the harness or the bundler changes the key: the stale bundle is simply rebuilt.
 *
 * The list of input files is kept beside the bundle (it only says which files to hash; a wrong
 * list gives another key, so no pin, so a rebuild).
 */
export interface BundlePins {
  pinned(key: string): Promise<{ sha256: string; bytes: number } | null>;
  pin(key: string, bundle: { sha256: string; bytes: number }): Promise<void>;
}

const INPUTS_FILE = 'bundle-inputs.json';
const require = createRequire(import.meta.url);

export type CachedBundle = BundleInfo & {
  target: string;
  /** reused: the pinned bytes on disk; built: bundled now (none pinned yet, or stale); rebuilt: the bytes on disk were not the pinned ones. */
  source: 'reused' | 'built' | 'rebuilt';
};

/** The pin's key: every input to the bundle's bytes, file inputs by content. Null when an input file cannot be read. */
export async function bundleKey(input: BundleInput, inputs: readonly string[]): Promise<string | null> {
  const files: Array<[string, string]> = [];
  for (const path of inputs) {
    try {
      files.push([path, sha256(await readFile(join(REPO_ROOT, path)))]);
    } catch {
      return null;
    }
  }
  const esbuild = (require('esbuild/package.json') as { version: string }).version;
  const parts = ['ferry-bundle/1', esbuild, bundleTarget(input.nodeMajor), input.banner ?? null, input.entry ?? null, input.program, input.rowTypes, files];
  return sha256(JSON.stringify(parts));
}

async function recordedInputs(dir: string): Promise<string[] | null> {
  try {
    const v = JSON.parse(await readFile(join(dir, INPUTS_FILE), 'utf8')) as { inputs?: unknown };
    return Array.isArray(v.inputs) && v.inputs.every((p) => typeof p === 'string') ? (v.inputs as string[]) : null;
  } catch {
    return null;
  }
}

/** What is on disk, if it is exactly the pinned bundle of this input; why not, otherwise. */
async function pinnedOnDisk(input: BundleInput, dir: string, pins: BundlePins): Promise<{ ok: true; sha256: string; bytes: number } | { ok: false; tampered: string | null }> {
  const inputs = await recordedInputs(dir);
  const key = inputs && (await bundleKey(input, inputs));
  const pin = key ? await pins.pinned(key) : null;
  if (!pin) return { ok: false, tampered: null };
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, BUNDLE_FILE));
  } catch {
    return { ok: false, tampered: null };
  }
  const found = sha256(bytes);
  if (found === pin.sha256 && bytes.byteLength === pin.bytes) return { ok: true, sha256: found, bytes: bytes.byteLength };
  return { ok: false, tampered: `${join(dir, BUNDLE_FILE)} is not the bundle ferry built and pinned for this program (sha256 ${found}, pinned ${pin.sha256}): it was not run; rebuilt from the approved program` };
}

/**
 * The bundle of `input` as `bundle.cjs` in `dir`: the pinned one already there, or bundled now
 * (once) and pinned. `notice` hears, in words, when bytes on disk were refused.
 */
export async function cachedBundle(input: BundleInput, dir: string, pins: BundlePins | undefined, notice: (line: string) => void = () => {}): Promise<CachedBundle> {
  const target = bundleTarget(input.nodeMajor);
  const found = pins ? await pinnedOnDisk(input, dir, pins) : ({ ok: false, tampered: null } as const);
  if (found.ok) return { path: join(dir, BUNDLE_FILE), sha256: found.sha256, bytes: found.bytes, target, source: 'reused' };
  if (found.tampered) notice(found.tampered);
  const built = await bundleProgram(input);
  const info = await writeBundleBytes(built, dir);
  if (pins) {
    const key = await bundleKey(input, built.inputs);
    if (key) {
      await pins.pin(key, { sha256: built.sha256, bytes: built.bytes });
      await writeInputs(dir, built.inputs);
    }
  }
  return { ...info, target: built.target, source: found.tampered ? 'rebuilt' : 'built' };
}

async function writeInputs(dir: string, inputs: readonly string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${INPUTS_FILE}.${process.pid}`);
  await writeFile(tmp, `${JSON.stringify({ inputs })}\n`);
  await rename(tmp, join(dir, INPUTS_FILE));
}
