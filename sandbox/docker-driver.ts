/**
 * The Docker sandbox: the program runs in a container with the full policy (no network,
 * read-only root, all capabilities dropped, limits on memory, CPU and pids). Rows travel
 * over a unix socket in a per-run directory bind-mounted read-only at /run/ferry; the
 * container's stdout/stderr are its log.
 */
import { readFile } from 'node:fs/promises';
import { SandboxError } from '../src/errors.js';
import { createDockerClient, dockerFailure, type ContainerSpec, type DockerClient, type HostConfigSpec } from './docker-client.js';
import { NODE_PATH_IN_IMAGE, resolveImage, type ResolvedImage } from './image.js';
import type { SandboxPolicy } from './policy.js';
import {
  BUNDLE_NAME,
  SOCKET_DIR_IN_CONTAINER,
  SOCKET_NAME,
  TERMINATE_GRACE_MS,
  heapLimitMiB,
  startSession,
  type LaunchContext,
  type LogCollector,
  type ProgramExit,
  type ProgramHandle,
} from './session-core.js';
import type { Availability, SandboxDriver, SandboxSession, SandboxStartOptions } from './types.js';

export const BUNDLE_PATH_IN_CONTAINER = `/sandbox/${BUNDLE_NAME}`;
const MEMORY_POLL_MS = 200;
/** How long to wait for the log stream to end after the container has exited. */
const LOG_DRAIN_MS = 5_000;

/** The container's HostConfig, all from the policy, in one place. */
export function hostConfigFor(policy: SandboxPolicy, binds: { bundle: string; socketDir: string }): HostConfigSpec {
  return {
    Memory: policy.memoryBytes,
    MemorySwap: policy.memorySwapBytes,
    NanoCpus: Math.round(policy.cpus * 1e9),
    PidsLimit: policy.pidsLimit,
    ReadonlyRootfs: policy.readOnlyRootfs,
    Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${policy.tmpfsSizeBytes}` },
    SecurityOpt: policy.noNewPrivileges ? ['no-new-privileges'] : [],
    CapDrop: [...policy.capDrop],
    NetworkMode: policy.networkMode,
    Binds: [`${binds.bundle}:${BUNDLE_PATH_IN_CONTAINER}:ro`, `${binds.socketDir}:${SOCKET_DIR_IN_CONTAINER}:ro`],
    // The daemon keeps its own copy of the log too; cap it so a chatty program cannot fill the disk.
    LogConfig: { Type: 'json-file', Config: { 'max-size': String(Math.max(policy.maxLogBytes, 64 * 1024)), 'max-file': '1' } },
    IpcMode: 'private',
    Init: false,
    AutoRemove: false,
  };
}

/** The whole create body for one run. Env is an allow-list: the socket path and nothing of the host. */
export function containerSpecFor(
  policy: SandboxPolicy,
  image: string,
  binds: { bundle: string; socketDir: string },
  labels: Record<string, string>,
): ContainerSpec {
  return {
    Image: image,
    Entrypoint: [NODE_PATH_IN_IMAGE],
    Cmd: [`--max-old-space-size=${heapLimitMiB(policy)}`, BUNDLE_PATH_IN_CONTAINER],
    Env: [`FERRY_STREAM=${SOCKET_DIR_IN_CONTAINER}/${SOCKET_NAME}`],
    User: policy.user,
    WorkingDir: '/tmp',
    Labels: labels,
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: false,
    Tty: false,
    NetworkDisabled: true,
    HostConfig: hostConfigFor(policy, binds),
  };
}

/**
 * Splits Docker's multiplexed attach stream (8-byte header: stream type, 3 zero bytes,
 * big-endian length) into stdout and stderr chunks.
 */
export class DockerDemuxer {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly emit: (stream: 'stdout' | 'stderr', chunk: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 8) {
      const type = this.buffer[0];
      const size = this.buffer.readUInt32BE(4);
      if (this.buffer.length < 8 + size) break;
      const payload = this.buffer.subarray(8, 8 + size);
      this.buffer = this.buffer.subarray(8 + size);
      this.emit(type === 2 ? 'stderr' : 'stdout', payload);
    }
  }
}

/** Where this machine's cgroup keeps a container's peak memory, v1 and v2, cgroupfs and systemd drivers. */
function peakMemoryFiles(id: string): string[] {
  return [
    `/sys/fs/cgroup/memory/docker/${id}/memory.max_usage_in_bytes`,
    `/sys/fs/cgroup/memory/system.slice/docker-${id}.scope/memory.max_usage_in_bytes`,
    `/sys/fs/cgroup/system.slice/docker-${id}.scope/memory.peak`,
    `/sys/fs/cgroup/docker/${id}/memory.peak`,
  ];
}

/** Follows a container's peak memory while it runs (its cgroup goes away when it exits). */
class MemoryWatch {
  private peak: number | null = null;
  private file: string | null | undefined;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private lastStats = 0;

  constructor(
    private readonly docker: DockerClient,
    private readonly id: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), MEMORY_POLL_MS);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get value(): number | null {
    return this.peak;
  }

  atLeast(n: number): void {
    this.record(n);
  }

  private record(n: number): void {
    if (Number.isFinite(n) && n > 0) this.peak = Math.max(this.peak ?? 0, n);
  }

  /** Polls skip while a reading is under way; an explicit sample waits for it and takes a fresh one. */
  private poll(): void {
    if (this.busy) return;
    void this.sample();
  }

  sample(): Promise<void> {
    const next = (this.busy ?? Promise.resolve()).then(() => this.read());
    this.busy = next;
    void next.finally(() => {
      if (this.busy === next) this.busy = null;
    });
    return next;
  }

  private async read(): Promise<void> {
    try {
      if (this.file === undefined) {
        this.file = null;
        for (const f of peakMemoryFiles(this.id)) {
          try {
            this.record(Number((await readFile(f, 'utf8')).trim()));
            this.file = f;
            return;
          } catch {
            // Not this layout; try the next.
          }
        }
      }
      if (this.file) {
        this.record(Number((await readFile(this.file, 'utf8')).trim()));
      } else if (Date.now() - this.lastStats > 1_000) {
        // No cgroup file visible (e.g. ferry itself runs in a container): ask the daemon,
        // sparingly and without waiting (a stats call takes about a second; batches must not).
        this.lastStats = Date.now();
        void this.docker.statsPeakMemory(this.id).then((n) => n !== null && this.record(n));
      }
    } catch {
      // The cgroup is gone once the container exits; the last reading stands.
    }
  }
}

async function launchContainer(
  docker: DockerClient,
  image: string,
  options: SandboxStartOptions,
  { runDir, logs }: LaunchContext,
): Promise<ProgramHandle> {
  const labels = { ...(options.labels ?? {}), 'ferry.run': options.runId, 'ferry.managed': 'true' };
  const spec = containerSpecFor(options.policy, image, { bundle: runDir.bundlePath, socketDir: runDir.socketDir }, labels);
  let id: string;
  try {
    id = await docker.createContainer(spec);
  } catch (e) {
    throw dockerFailure('SANDBOX_CONTAINER_CREATE_FAILED', `cannot create the sandbox container from ${image}`, e);
  }
  let removed: Promise<void> | null = null;
  const remove = (): Promise<void> => {
    removed ??= docker.removeContainer(id);
    return removed;
  };
  const memory = new MemoryWatch(docker, id);
  try {
    const output = await docker.attachOutput(id);
    const logsEnded = pipeLogs(output, logs);
    await docker.startContainer(id);
    memory.start();

    const exited = (async (): Promise<ProgramExit> => {
      let statusCode: number | null = null;
      try {
        statusCode = (await docker.waitContainer(id)).statusCode;
      } catch {
        // The daemon lost the container (removed under us); inspect below says what it can.
      }
      memory.stop();
      await memory.sample();
      let oomKilled = false;
      try {
        const state = await docker.inspectContainer(id);
        oomKilled = state.oomKilled;
        // The OOM killer acts at the limit; the last poll may have come before the climb.
        if (oomKilled) memory.atLeast(options.policy.memoryBytes);
        statusCode = state.exitCode ?? statusCode;
      } catch {
        // Gone: keep what wait said.
      }
      await Promise.race([logsEnded, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
      return { exitCode: statusCode, signal: null, oomKilled };
    })();

    return {
      containerId: id,
      exited,
      async terminate() {
        await docker.stopContainer(id, Math.ceil(TERMINATE_GRACE_MS / 1000));
      },
      peakMemoryBytes: () => memory.value,
      sampleMemory: () => memory.sample(),
      async cleanup() {
        memory.stop();
        await remove();
      },
    };
  } catch (e) {
    memory.stop();
    await remove().catch(() => undefined);
    throw dockerFailure('SANDBOX_CONTAINER_START_FAILED', `cannot start the sandbox container ${id.slice(0, 12)}`, e);
  }
}

function pipeLogs(output: NodeJS.ReadableStream, logs: LogCollector): Promise<void> {
  const demux = new DockerDemuxer((stream, chunk) => logs.write(stream, chunk));
  return new Promise<void>((resolve) => {
    output.on('data', (chunk: Buffer) => demux.push(chunk));
    output.on('end', () => resolve());
    output.on('close', () => resolve());
    output.on('error', () => resolve());
  });
}

export interface DockerDriverOptions {
  docker?: DockerClient;
}

export class DockerDriver implements SandboxDriver {
  readonly kind = 'docker' as const;
  private readonly docker: DockerClient;

  constructor(options: DockerDriverOptions = {}) {
    this.docker = options.docker ?? createDockerClient();
  }

  async available(): Promise<Availability> {
    let version: string;
    try {
      await this.docker.ping();
      version = (await this.docker.serverVersion()).version;
    } catch (e) {
      return { ok: false, reason: `the Docker daemon does not answer: ${e instanceof Error ? e.message : String(e)}` };
    }
    try {
      const { image, imageId } = await resolveImage(this.docker);
      return { ok: true, detail: `Docker ${version}; image ${image} (${imageId.slice(0, 19)})` };
    } catch (e) {
      const hint = e instanceof SandboxError && e.hint ? ` (${e.hint})` : '';
      return {
        ok: false,
        reason: `Docker ${version} answers, but ${e instanceof Error ? e.message : String(e)}${hint}`,
        ...(e instanceof SandboxError ? { code: e.code } : {}),
      };
    }
  }

  private async image(policy: SandboxPolicy): Promise<ResolvedImage> {
    if (policy.image === null) return resolveImage(this.docker);
    let info;
    try {
      info = await this.docker.inspectImage(policy.image);
    } catch (e) {
      throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', `cannot inspect image ${policy.image}`, e);
    }
    if (!info) {
      throw new SandboxError('SANDBOX_IMAGE_MISSING', `the policy's image ${policy.image} is not present in the local Docker`, {
        hint: 'leave policy.image null to use node:18-alpine or the offline build (`npm run sandbox:image`)',
      });
    }
    return { image: policy.image, imageId: info.id };
  }

  async start(options: SandboxStartOptions): Promise<SandboxSession> {
    const { image, imageId } = await this.image(options.policy);
    const applied: Record<string, unknown> = {
      ...options.policy,
      image,
      hostConfig: hostConfigFor(options.policy, { bundle: `<run dir>/${BUNDLE_NAME}`, socketDir: '<run dir>/stream' }),
      heapLimitMiB: heapLimitMiB(options.policy),
    };
    return startSession({
      driver: 'docker',
      options,
      image,
      imageId,
      appliedPolicy: applied,
      launch: (ctx) => launchContainer(this.docker, image, options, ctx),
    });
  }

  /** Ids of containers ferry started (optionally for one run) that still exist. */
  async leftovers(runId?: string): Promise<string[]> {
    return this.docker.listContainerIds(runId === undefined ? { 'ferry.managed': 'true' } : { 'ferry.managed': 'true', 'ferry.run': runId });
  }
}
