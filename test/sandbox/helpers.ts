import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { buildOfflineImage, resolveImage, type ResolvedImage } from '../../sandbox/image.js';
import { defaultPolicy, type SandboxPolicy } from '../../sandbox/policy.js';

const here = dirname(fileURLToPath(import.meta.url));
const programs = join(here, 'programs');
export const HARNESS = resolve(here, '../../sandbox/harness/harness.ts');

export interface Bundle {
  path: string;
  sha256: string;
}

const scratch: string[] = [];

/**
 * Bundles test/sandbox/programs/<name>.ts the way the Code Interpreter bundles a generated
 * program: one CommonJS file for Node 18, harness included.
 */
export async function bundleProgram(name: string, define: Record<string, string> = {}): Promise<Bundle> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-test-bundle-'));
  scratch.push(dir);
  const outfile = join(dir, 'bundle.cjs');
  await build({
    entryPoints: [join(programs, `${name}.ts`)],
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    outfile,
    define,
    logLevel: 'silent',
  });
  const sha256 = createHash('sha256').update(await readFile(outfile)).digest('hex');
  return { path: outfile, sha256 };
}

export async function removeBundles(): Promise<void> {
  await Promise.all(scratch.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export function policy(overrides: Partial<SandboxPolicy> = {}): SandboxPolicy {
  return { ...defaultPolicy, timeoutMs: 60_000, ...overrides };
}

/**
 * Whether Docker tests run here. In CI a missing daemon fails the suite instead of skipping
 * it; locally the tests skip with the reason.
 */
export async function dockerStatus(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await createDockerClient().ping();
    return { ok: true };
  } catch (e) {
    const reason = `no Docker daemon answers (${e instanceof Error ? e.message : String(e)})`;
    if (process.env.CI === 'true') throw new Error(`${reason}: Docker tests must run in CI`);
    console.warn(`skipping Docker sandbox tests: ${reason}`);
    return { ok: false, reason };
  }
}

/** The sandbox image, built offline on first use (a fresh CI machine has none). */
export async function ensureImage(): Promise<ResolvedImage> {
  try {
    return await resolveImage();
  } catch {
    return buildOfflineImage({ onProgress: (line) => console.log(`[sandbox image] ${line}`) });
  }
}

export function rows(...names: string[]): { k: string; r: Record<string, unknown> }[] {
  return names.map((name, i) => ({ k: String(i + 1), r: { id: i + 1, name } }));
}
