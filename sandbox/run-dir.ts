/**
 * The per-run directory: the bundle copy and the socket. It is the stream itself, not an extra
 * way out: the container sees the socket directory read-only and the bundle read-only.
 *
 * Who can reach the socket: root and the uid the program runs as, nobody else. The run
 * directory is 0700 (the local driver as root: 0750 with the program's group, so the child
 * can read the bundle; nobody but root can write in it), the socket directory below it 0700
 * and owned by the program's uid, the socket 0600. A container reaches the socket directory
 * through its bind mount, so it never needs to pass through the run directory. When ferry
 * is not root it cannot hand anything to another uid: the program then runs as ferry's own
 * user (the container's User is overridden, see programUser), and everything stays ferry's.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxError } from '../src/core/errors.js';
import type { SandboxPolicy } from './policy.js';

const SOCKET_NAME = 'stream.sock';
const BUNDLE_NAME = 'bundle.cjs';

export interface RunDir {
  root: string;
  bundlePath: string;
  socketDir: string;
  socketPath: string;
  remove(): Promise<void>;
}

/** Who the program runs as on the host; null when it runs as ferry's own user. */
export interface ProgramIdentity {
  uid: number;
  gid: number;
}

export interface RunDirAccess {
  /** The uid:gid the program runs as when it is not ferry's own; they own the socket directory. */
  program: ProgramIdentity | null;
  /**
   * The program reaches the bundle and the socket by their host paths (the local driver),
   * not through bind mounts (Docker): the run directory must then let its group pass.
   */
  viaHostPath: boolean;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The policy's "uid:gid" as numbers (checkPolicy has vetted the shape). */
function policyIds(policy: SandboxPolicy): ProgramIdentity {
  const [uid = Number.NaN, gid = Number.NaN] = policy.user.split(':').map(Number);
  return { uid, gid };
}

/**
 * The uid:gid the program runs as. The policy's, when ferry is root (it can hand the socket
 * to that uid) or already is that user; otherwise ferry's own: only root can give a file to
 * another uid, and a socket others may connect to is what let another local user take the stream.
 */
export function programUser(policy: SandboxPolicy): ProgramIdentity {
  const wanted = policyIds(policy);
  if (isRoot() || typeof process.getuid !== 'function' || typeof process.getgid !== 'function') return wanted;
  return { uid: process.getuid(), gid: process.getgid() };
}

/** What createRunDir needs to know: the program's identity when ferry must hand things over to it. */
export function runDirAccess(policy: SandboxPolicy, viaHostPath: boolean): RunDirAccess {
  const program = programUser(policy);
  const own = typeof process.getuid === 'function' && program.uid === process.getuid();
  return { program: own ? null : program, viaHostPath };
}

/** The bundle's bytes, refused unless they hash to what the run record will name. */
export async function readVerifiedBundle(bundle: { path: string; sha256: string }): Promise<Buffer> {
  let content: Buffer;
  try {
    content = await readFile(bundle.path);
  } catch (e) {
    throw new SandboxError('SANDBOX_BUNDLE_UNREADABLE', `cannot read the bundle ${bundle.path}`, { cause: e });
  }
  const actual = createHash('sha256').update(content).digest('hex');
  if (actual !== bundle.sha256) {
    // The run record names the bundle by hash, so it must be the bundle that runs.
    throw new SandboxError('SANDBOX_BUNDLE_MISMATCH', `bundle ${bundle.path} has sha256 ${actual}, expected ${bundle.sha256}`, {
      hint: 'rebuild the bundle or pass the hash of the file as it is now',
    });
  }
  return content;
}

export async function createRunDir(bundle: { path: string; sha256: string }, access: RunDirAccess = { program: null, viaHostPath: false }): Promise<RunDir> {
  await readVerifiedBundle(bundle);
  const root = await mkdtemp(join(tmpdir(), 'ferry-run-'));
  const remove = () => rm(root, { recursive: true, force: true });
  const { program } = access;
  try {
    if (program && access.viaHostPath) {
      // The local driver's child must pass through to its bundle, socket and working directory.
      await chown(root, 0, program.gid);
      await chmod(root, 0o750);
    } else {
      await chmod(root, 0o700);
    }
    const bundlePath = join(root, BUNDLE_NAME);
    await copyFile(bundle.path, bundlePath);
    await chmod(bundlePath, 0o444);
    const socketDir = join(root, 'stream');
    await mkdir(socketDir, { mode: 0o700 });
    await chmod(socketDir, 0o700);
    if (program) await chown(socketDir, program.uid, program.gid);
    return { root, bundlePath, socketDir, socketPath: join(socketDir, SOCKET_NAME), remove };
  } catch (e) {
    await remove();
    throw new SandboxError('SANDBOX_RUN_DIR_FAILED', `cannot prepare the run directory ${root}`, { cause: e });
  }
}

/** Warm containers' directories (sandbox/warm.ts): `ferry-pool-*` in the temp directory, so a reaper can tell them. */
export const POOL_DIR_PREFIX = 'ferry-pool-';
/** Inside a warm directory: the program's directory (mounted at /sandbox) and the token file in the stream directory. */
export const WARM_PROGRAM_DIR = 'program';
export const TOKEN_NAME = 'token';

/** A warm container's directory before any run: both mounted directories empty, each the program's alone. */
export interface WarmDir {
  root: string;
  programDir: string;
  socketDir: string;
  remove(): Promise<void>;
}

/**
 * The directory of a container started before its run: `program/` (mounted read-only at
 * /sandbox) and `stream/` (read-only at /run/ferry), both 0700 and the program's uid, as a
 * run directory's socket directory is. They stay empty until a run claims the container.
 */
export async function createWarmDir(access: RunDirAccess): Promise<WarmDir> {
  const root = await mkdtemp(join(tmpdir(), POOL_DIR_PREFIX));
  const remove = () => rm(root, { recursive: true, force: true });
  try {
    await chmod(root, 0o700);
    const programDir = join(root, WARM_PROGRAM_DIR);
    const socketDir = join(root, 'stream');
    for (const dir of [programDir, socketDir]) {
      await mkdir(dir, { mode: 0o700 });
      await chmod(dir, 0o700);
      if (access.program) await chown(dir, access.program.uid, access.program.gid);
    }
    return { root, programDir, socketDir, remove };
  } catch (e) {
    await remove();
    throw new SandboxError('SANDBOX_RUN_DIR_FAILED', `cannot prepare the warm container directory ${root}`, { cause: e });
  }
}

/**
 * Puts a file in a mounted directory all at once: written beside it (in the warm directory's
 * root, which no container sees), its mode and owner set, then renamed in. The waiting
 * program never sees a half-written bundle or token.
 */
export async function placeFile(dir: WarmDir, into: string, name: string, content: Buffer | string, mode: number, owner: ProgramIdentity | null): Promise<string> {
  const staged = join(dir.root, `${name}.staged`);
  await writeFile(staged, content, { mode });
  await chmod(staged, mode);
  if (owner) await chown(staged, owner.uid, owner.gid);
  const target = join(into, name);
  await rename(staged, target);
  return target;
}
