/**
 * The sandbox image's Node version as a setting (FERRY_SANDBOX_NODE / --node): the offline
 * build for Node 20, a program run in it through the real Docker driver, the run record,
 * and the default that still resolves Node 18. Real Docker, real npm registry (once: the
 * package is cached in ~/.cache/ferry).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeBundle } from '../../agents/code-interpreter/bundle.js';
import { bundleScript, generateScript } from '../../agents/code-interpreter/index.js';
import { loadConfig } from '../../src/config.js';
import { FerryError } from '../../src/core/errors.js';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { DockerDriver } from '../../sandbox/docker-driver.js';
import { buildOfflineImage, resolveImage, type SandboxNode } from '../../sandbox/image.js';
import type { SandboxRun } from '../../src/core/artifacts/sandbox-run.js';
import { analysisFixture, planFixture } from '../code-interpreter/fixtures.js';
import { runFerry } from '../setup/ferry-bin.js';
import { dockerStatus, ensureImage, policy } from './helpers.js';

const status = await dockerStatus();
const NODE_20: SandboxNode = { major: 20, exact: '20.19.5' };
const scratch: string[] = [];
const log = (line: string) => console.log(`[node20 image] ${line}`);

afterAll(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

/** Catches what fn throws, so the test can look at its code, message and hint. */
async function failure(fn: () => Promise<unknown>): Promise<FerryError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof FerryError) return e;
    throw e;
  }
  throw new Error('expected a FerryError, nothing was thrown');
}

/**
 * A program of the shape the Code Interpreter generates (an exported transform), answering
 * with the Node that runs it, bundled by the Code Interpreter's bundler for `nodeMajor`.
 */
async function runtimeReporter(nodeMajor: number): Promise<{ path: string; sha256: string }> {
  const program = [
    'export function transform(row: Record<string, unknown>): Record<string, unknown> {',
    "  return { parcel_code: String(row['Parcel Code ']).trim(), runtime: process.version };",
    '}',
    '',
  ].join('\n');
  const dir = await tempDir('ferry-node-bundle-');
  return writeBundle({ program, rowTypes: '', banner: `// node ${nodeMajor} probe`, nodeMajor }, dir);
}

async function runOnce(driver: DockerDriver, bundle: { path: string; sha256: string }, name: string): Promise<{ runtime: unknown; record: SandboxRun }> {
  const session = await driver.start({ runId: `test-node-${name}-${process.pid}`, bundle, policy: policy(), labels: { 'ferry.test': 'node-version' } });
  const outcome = await session.transform(1, [{ k: 'P-0007', r: { 'Parcel Code ': '  p\u00e9-7 ' } }]);
  const record = await session.close();
  expect(outcome.status).toBe('ok');
  if (outcome.status !== 'ok') throw new Error(outcome.message);
  expect(outcome.rows[0]?.r.parcel_code).toBe('p\u00e9-7');
  return { runtime: outcome.rows[0]?.r.runtime, record };
}

describe('FERRY_SANDBOX_NODE in the config', () => {
  it('defaults to Node 18 (any 18.x image; 18.20.8 when ferry builds one)', () => {
    expect(loadConfig({}, '/srv').sandboxNode).toEqual({ major: 18, exact: null });
    expect(loadConfig({ FERRY_SANDBOX_NODE: '' }, '/srv').sandboxNode).toEqual({ major: 18, exact: null });
  });

  it('takes a major or an exact version', () => {
    expect(loadConfig({ FERRY_SANDBOX_NODE: '22' }, '/srv').sandboxNode).toEqual({ major: 22, exact: null });
    expect(loadConfig({ FERRY_SANDBOX_NODE: ' v20.19.5 ' }, '/srv').sandboxNode).toEqual({ major: 20, exact: '20.19.5' });
  });

  it.each([['lts/iron'], ['20.x'], ['20.19'], ['16'], ['0.12.18']])('refuses %j with CONFIG_INVALID saying what it takes', (value) => {
    let error: unknown;
    try {
      loadConfig({ FERRY_SANDBOX_NODE: value }, '/srv');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('CONFIG_INVALID');
    expect((error as FerryError).message).toContain('FERRY_SANDBOX_NODE');
    expect(`${(error as FerryError).message} ${(error as FerryError).hint}`).toMatch(/Node 18 or later|exact version/);
  });
});

describe('the Code Interpreter bundles for the sandbox Node', () => {
  it('records the esbuild target with the hash, and reproduces the bytes from it', async () => {
    const analysis = analysisFixture();
    const plan = planFixture(analysis);
    const for20 = await generateScript({ plan, analysis, nodeMajor: 20 });
    const for18 = await generateScript({ plan, analysis });
    expect(for20.bundle.target).toBe('node20');
    expect(for18.bundle.target).toBe('node18');
    const dir = await tempDir('ferry-node-script-');
    // Rebuilt from the artifact alone: the target recorded with the hash, not a setting of today.
    const info = await bundleScript(for20, join(dir, 'b20'));
    expect(info.sha256).toBe(for20.bundle.sha256);
    // A script from before the target was recorded was bundled for node18, and still rebuilds the same.
    const { target: _t, ...legacyBundle } = for18.bundle;
    const legacy = await bundleScript({ ...for18, bundle: legacyBundle }, join(dir, 'b18'));
    expect(legacy.sha256).toBe(for18.bundle.sha256);
  });
});

describe.skipIf(!status.ok)('the sandbox image for a configured Node', () => {
  const docker = createDockerClient();

  it('rebuilds ferry-sandbox:node20 when the image there holds another version, and labels the one it built', async () => {
    // Put an image under the tag that claims an older Node 20: the build must not take it as current.
    const ctx = await tempDir('ferry-fake-image-');
    await mkdir(join(ctx, 'rootfs'), { recursive: true });
    await writeFile(join(ctx, 'rootfs', 'stale.txt'), 'not a node image\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      ['FROM scratch', 'COPY rootfs/ /', 'LABEL "ferry.managed"="true" "ferry.layout"="1" "ferry.node-version"="20.18.0"', ''].join('\n'),
    );
    // The context as a finished tar file (listed before it is sent), not a live tar pipe: the
    // daemon once answered "Cannot locate specified Dockerfile" under a loaded CI run.
    const contextTar = join(await tempDir('ferry-fake-context-'), 'context.tar');
    execFileSync('tar', ['-C', ctx, '--owner=0', '--group=0', '--numeric-owner', '-cf', contextTar, 'Dockerfile', 'rootfs']);
    expect(execFileSync('tar', ['-tf', contextTar], { encoding: 'utf8' }).split('\n')).toContain('Dockerfile');
    await docker.buildImage(createReadStream(contextTar), 'ferry-sandbox:node20', () => undefined);
    const stale = await docker.inspectImage('ferry-sandbox:node20');
    expect(stale?.labels['ferry.node-version']).toBe('20.18.0');

    // The stale image does not satisfy the exact setting: resolution says so and names what is there.
    const missing = await failure(() => resolveImage(docker, NODE_20));
    expect(missing.code).toBe('SANDBOX_IMAGE_MISSING');
    expect(missing.message).toContain('ferry-sandbox:node20 holds Node 20.18.0');
    expect(missing.hint).toContain('--node 20.19.5');

    const lines: string[] = [];
    const built = await buildOfflineImage({ node: NODE_20, onProgress: (l) => (lines.push(l), log(l)) });
    expect(built).toMatchObject({ image: 'ferry-sandbox:node20', nodeVersion: '20.19.5' });
    expect(built.imageId).not.toBe(stale?.id);
    expect(lines.join('\n')).toContain('holds Node 20.18.0; rebuilding it with Node 20.19.5');
    const info = await docker.inspectImage('ferry-sandbox:node20');
    expect(info?.labels['ferry.node-version']).toBe('20.19.5');

    // Built once, it is current: a second build reuses it.
    const again = await buildOfflineImage({ node: { major: 20, exact: null } });
    expect(again.imageId).toBe(built.imageId);
    expect(await resolveImage(docker, NODE_20)).toEqual({ image: 'ferry-sandbox:node20', imageId: built.imageId, nodeVersion: '20.19.5' });
  });

  it('runs a generated program in Node 20 through the Docker driver, and the run record says Node 20', async () => {
    await buildOfflineImage({ node: NODE_20, onProgress: log });
    const driver = new DockerDriver({ node: loadConfig({ FERRY_SANDBOX_NODE: '20.19.5' }, '/srv').sandboxNode });
    const available = await driver.available();
    expect(available.ok && available.detail).toMatch(/image ferry-sandbox:node20 .*Node 20\.19\.5/);
    const { runtime, record } = await runOnce(driver, await runtimeReporter(20), 'n20');
    expect(runtime).toBe('v20.19.5');
    expect(record).toMatchObject({ driver: 'docker', image: 'ferry-sandbox:node20', nodeVersion: '20.19.5', exitReason: 'ok' });
  });

  it('the default still resolves the Node 18 image and runs Node 18', async () => {
    await ensureImage();
    const resolved = await resolveImage(docker);
    expect(resolved.image).toMatch(/^(node:18-alpine|ferry-sandbox:node18)$/);
    expect(resolved.nodeVersion).toMatch(/^18\./);
    const { runtime, record } = await runOnce(new DockerDriver(), await runtimeReporter(18), 'n18');
    expect(runtime).toBe(`v${resolved.nodeVersion}`);
    expect(record.nodeVersion).toBe(resolved.nodeVersion);
    expect(record.image).toBe(resolved.image);
  });

  it('an unknown version is refused before anything is built, naming the versions that exist', async () => {
    const before = await docker.inspectImage('ferry-sandbox:node20');
    const cacheDir = await tempDir('ferry-node-cache-');
    const e = await failure(() => buildOfflineImage({ node: { major: 20, exact: '20.99.1' }, cacheDir, docker }));
    expect(e.code).toBe('SANDBOX_NODE_VERSION_UNKNOWN');
    expect(e.message).toContain('20.99.1');
    // What exists, from the registry: the newest release of each major from 18 on.
    expect(e.hint).toMatch(/18\.20\.8, 19\.\d+\.\d+, 20\.\d+\.\d+, 21\.\d+\.\d+, 22\.\d+\.\d+/);
    // Nothing lost: the Node 20 image there is untouched.
    expect((await docker.inspectImage('ferry-sandbox:node20'))?.id).toBe(before?.id);
  });

  it('`ferry sandbox build-image --node` takes the version, over FERRY_SANDBOX_NODE, and refuses a bad one', async () => {
    const home = await tempDir('ferry-node-cli-');
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, FERRY_HOME: home, FERRY_SANDBOX_NODE: '18' };
    const ok = await runFerry(env, ['sandbox', 'build-image', '--node', '20.19.5']);
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).toMatch(/ferry-sandbox:node20 .*Node 20\.19\.5/);
    const bad = await runFerry(env, ['sandbox', 'build-image', '--node', 'iron']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('CONFIG_INVALID');
    expect(bad.stderr).toContain('--node must be a Node major');
    const badEnv = await runFerry({ ...env, FERRY_SANDBOX_NODE: '16.20.2' }, ['sandbox', 'build-image']);
    expect(badEnv.code).not.toBe(0);
    expect(badEnv.stderr).toContain('FERRY_SANDBOX_NODE=16.20.2: the sandbox needs Node 18 or later');
  });
});
