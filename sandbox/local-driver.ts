/**
 * The WEAKER sandbox, for machines without Docker: the bundle runs in a child `node`
 * process (the host's Node) with an empty environment except FERRY_STREAM and the run's
 * secret (FERRY_STREAM_TOKEN), a private working directory, a V8 heap limit and Node's permission model (no file writes, no
 * child processes, no worker threads, file reads limited to the bundle).
 *
 * What it does NOT give, unlike the container: no network isolation (Node 20's permission
 * model does not cover sockets, so the program could open TCP connections or other unix
 * sockets), no limit on memory outside the V8 heap, no CPU or pids limit, and a separate
 * user only when ferry runs as root. The demo says so when it falls back to it; use Docker
 * for anything real.
 */
import { spawn } from 'node:child_process';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../src/core/errors.js';
import type { SandboxPolicy } from './policy.js';
import { heapLimitMiB } from './policy.js';
import { runDirAccess } from './run-dir.js';
import { startSession, type LaunchContext, type ProgramExit, type ProgramHandle } from './session.js';
import type { Availability, SandboxDriver, SandboxSession, SandboxStartOptions } from './types.js';

const MEMORY_POLL_MS = 200;

export const LOCAL_SANDBOX_WARNING =
  'local sandbox: a child node process with the permission model; no network isolation, no container, weaker than Docker';

/** Node's flags for the program; the permission model's flag name depends on the Node version. */
export function nodeFlagsFor(policy: SandboxPolicy, bundlePath: string, nodeVersion: string = process.versions.node): string[] {
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
  const flags = [
    major >= 22 ? '--permission' : '--experimental-permission',
    `--allow-fs-read=${bundlePath}`,
    `--max-old-space-size=${heapLimitMiB(policy)}`,
  ];
  // The permission model's experimental warning is noise in the program's log (flag since 20.11).
  if (major > 20 || minor >= 11) flags.push('--disable-warning=ExperimentalWarning');
  return flags;
}

/**
 * When ferry runs as root, the program runs as the policy's uid:gid instead: as root it
 * could reach anything root can (the Docker socket, to begin with), since the permission
 * model does not cover sockets. The run directory is prepared for uid 1000 already.
 */
function dropTo(policy: SandboxPolicy): { uid: number; gid: number } | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const [uid, gid] = policy.user.split(':').map(Number);
  if (uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new SandboxError('SANDBOX_POLICY_INVALID', `policy.user must be "uid:gid" in numbers, got ${JSON.stringify(policy.user)}`);
  }
  return { uid, gid };
}

async function vmHwmBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function launchChild(options: SandboxStartOptions, { runDir, logs, token }: LaunchContext): Promise<ProgramHandle> {
  const cwd = join(runDir.root, 'cwd');
  await mkdir(cwd, { mode: 0o700 });
  const ids = dropTo(options.policy);
  if (ids) await chown(cwd, ids.uid, ids.gid);
  const child = spawn(process.execPath, [...nodeFlagsFor(options.policy, runDir.bundlePath), runDir.bundlePath], {
    cwd,
    // Empty except the stream and its secret: no host variables, no credentials.
    env: { FERRY_STREAM: runDir.socketPath, FERRY_STREAM_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(ids ?? {}),
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  try {
    await spawned;
  } catch (e) {
    throw new SandboxError('SANDBOX_PROCESS_START_FAILED', `cannot start ${process.execPath} for the local sandbox`, { cause: e });
  }
  const pid = child.pid as number;

  let peak: number | null = null;
  const sample = async () => {
    const n = await vmHwmBytes(pid);
    if (n !== null) peak = Math.max(peak ?? 0, n);
  };
  const poll = setInterval(() => void sample(), MEMORY_POLL_MS);
  poll.unref();
  void sample();

  child.stdout.on('data', (chunk: Buffer) => logs.write('stdout', chunk));
  child.stderr.on('data', (chunk: Buffer) => logs.write('stderr', chunk));

  // 'close' comes after 'exit' and after stdout/stderr have ended: the log is complete.
  const exited = new Promise<ProgramExit>((resolve) => {
    child.once('close', (code, signal) => {
      clearInterval(poll);
      resolve({ exitCode: code, signal, oomKilled: false });
    });
  });

  let killTimer: NodeJS.Timeout | null = null;
  return {
    containerId: null,
    exited,
    async terminate() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), options.policy.killGraceMs);
      killTimer.unref();
      await exited;
      clearTimeout(killTimer);
    },
    peakMemoryBytes: () => peak,
    sampleMemory: sample,
    async cleanup() {
      clearInterval(poll);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      if (killTimer) clearTimeout(killTimer);
    },
  };
}

export class LocalDriver implements SandboxDriver {
  readonly kind = 'local' as const;

  async available(): Promise<Availability> {
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 20) return { ok: false, reason: `Node ${process.version} has no permission model (needs Node 20 or later)` };
    return { ok: true, detail: `${LOCAL_SANDBOX_WARNING} (Node ${process.version})` };
  }

  async start(options: SandboxStartOptions): Promise<SandboxSession> {
    const asRoot = dropTo(options.policy) !== null;
    return startSession({
      driver: 'local',
      options,
      image: null,
      imageId: null,
      nodeVersion: process.versions.node,
      appliedPolicy: {
        ...options.policy,
        image: null,
        node: process.version,
        nodeFlags: nodeFlagsFor(options.policy, '<bundle>'),
        enforced: [
          'timeoutMs (SIGTERM, then SIGKILL after killGraceMs)',
          'maxLogBytes, maxOutputBytes, maxFrameBytes',
          'heap limit (memoryBytes × 0.75)',
          'fs read-only to the bundle',
          'no child processes',
          'no workers',
          'empty env',
          ...(asRoot ? ['user'] : []),
        ],
        notEnforced: ['networkMode', 'cpus', 'pidsLimit', 'nofileLimit', 'init', 'tmpfsSizeBytes (no writes at all)', 'memory outside the V8 heap', ...(asRoot ? [] : ['user'])],
        warning: LOCAL_SANDBOX_WARNING,
      },
      access: runDirAccess(options.policy, true),
      launch: (ctx) => launchChild(options, ctx),
    });
  }
}
