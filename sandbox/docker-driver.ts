/**
 * The Docker sandbox: the program runs in a container with the full policy (no network,
 * read-only root, all capabilities dropped, limits on memory, CPU and pids). Rows travel
 * over a unix socket in a per-run directory bind-mounted read-only at /run/ferry; the
 * container's stdout/stderr are its log.
 */
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname } from 'node:path';
import { SandboxError } from '../src/core/errors.js';
import { createDockerClient, dockerFailure, type ContainerSpec, type ContainerSummary, type DockerClient } from './docker-client.js';
import { DEFAULT_SANDBOX_NODE, imageNodeVersion, resolveImage, type ResolvedImage, type SandboxNode } from './image.js';
import { LABEL, ownerLabels, ownerState, type OwnerState } from './owner.js';
import { dockerFields, type DockerHostConfig, type SandboxPolicy } from './policy.js';
import { POOL_DIR_PREFIX, programUser, runDirAccess } from './run-dir.js';
import { startSession, type LaunchContext, type ProgramExit, type ProgramHandle, type SessionSetup } from './session.js';
import type { Availability, SandboxDriver, SandboxSession, SandboxStartOptions } from './types.js';

import { besideStep } from '../src/core/steps.js';
const MEMORY_POLL_MS = 200;
/** How long a resolved sandbox image is taken as still current (see DockerDriver.resolveImageNow). */
const RESOLVED_IMAGE_MS = 5_000;
/** How long to wait for the log stream to end after the container has exited. */
const LOG_DRAIN_MS = 5_000;

/** The container's HostConfig, all from the policy (sandbox/policy.ts). */
export function hostConfigFor(policy: SandboxPolicy, binds: { bundle: string; socketDir: string }): DockerHostConfig {
  return dockerFields(policy, { bundle: binds.bundle, streamDir: binds.socketDir }).HostConfig;
}

/** The whole create body for one run: the policy's Docker fields, the image and the labels. */
export function containerSpecFor(
  policy: SandboxPolicy,
  image: string,
  binds: { bundle: string; socketDir: string },
  labels: Record<string, string>,
): ContainerSpec {
  const { Ferry: _ferryOwn, ...fields } = dockerFields(policy, { bundle: binds.bundle, streamDir: binds.socketDir });
  return {
    ...fields,
    Image: image,
    Labels: labels,
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: false,
    Tty: false,
  };
}

/** The run's options as the Docker driver applies them: not root, ferry cannot hand the socket to the policy's uid, so the container runs as ferry's user. */
export function appliedOptions(options: SandboxStartOptions): SandboxStartOptions {
  return { ...options, policy: appliedPolicy(options.policy) };
}

/** The policy as the Docker driver applies it (the program's uid:gid; see programUser). */
export function appliedPolicy(policy: SandboxPolicy): SandboxPolicy {
  const user = programUser(policy);
  return { ...policy, user: `${user.uid}:${user.gid}` };
}

/** Labels of one run: the caller's, then ferry's own (which the caller cannot override). */
export function runLabels(runId: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...ownerLabels(), [LABEL.run]: runId, [LABEL.managed]: 'true' };
}

/** A warm container's directory (label ferry.pool.dir), removed with it; only ever one ferry made (ferry-pool-* in the temp dir). */
async function removePoolDir(dir: string | undefined): Promise<void> {
  if (dir === undefined || dirname(dir) !== tmpdir() || !basename(dir).startsWith(POOL_DIR_PREFIX)) return;
  await rm(dir, { recursive: true, force: true });
}

/** The daemon's answer when `Init: true` names a binary it cannot find. */
const INIT_MISSING = /docker-init|tini|init binary|\binit\b.*(not found|no such file)/i;

function initMissing(path: string, cause?: unknown): SandboxError {
  return new SandboxError('SANDBOX_INIT_MISSING', `Docker has no usable init binary (${path}) for the policy's init process`, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'install tini (Debian/Ubuntu: `apt-get install tini`, which provides docker-init), or run with policy.init = false',
  });
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

/** How a container already started is followed: its wait, its log stream's end, its removal. */
export interface StartedContainer {
  id: string;
  /** The status code Docker's wait gave, null when the daemon lost the container. */
  waited: Promise<number | null>;
  logsEnded: Promise<void>;
  remove(): Promise<void>;
}

/** The session's handle on a started container: memory, exit, stop and removal (cold and warm alike). */
export function containerHandle(docker: DockerClient, policy: SandboxPolicy, c: StartedContainer): ProgramHandle {
  const memory = new MemoryWatch(docker, c.id);
  memory.start();
  const exited = (async (): Promise<ProgramExit> => {
    let statusCode = await c.waited;
    memory.stop();
    await memory.sample();
    let oomKilled = false;
    try {
      const state = await docker.inspectContainer(c.id);
      oomKilled = state.oomKilled;
      // The OOM killer acts at the limit; the last poll may have come before the climb.
      if (oomKilled) memory.atLeast(policy.memoryBytes);
      statusCode = state.exitCode ?? statusCode;
    } catch {
      // Gone: keep what wait said.
    }
    await Promise.race([c.logsEnded, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    return { exitCode: statusCode, signal: null, oomKilled };
  })();
  return {
    containerId: c.id,
    exited,
    async terminate() {
      // Docker sends the StopSignal (SIGTERM) to pid 1 (the init, which forwards it), then SIGKILL.
      await docker.stopContainer(c.id, Math.max(1, Math.ceil(policy.killGraceMs / 1000)));
    },
    peakMemoryBytes: () => memory.value,
    sampleMemory: () => memory.sample(),
    async cleanup() {
      memory.stop();
      await c.remove();
    },
  };
}

/** Docker's wait as a status code, null when the container was lost (removed under us). */
export function waitFor(docker: DockerClient, id: string): Promise<number | null> {
  return docker.waitContainer(id).then(
    (r) => r.statusCode,
    () => null,
  );
}

/**
 * Creates a container from its spec, attaches its output, starts it. On any failure the
 * container is removed; init-binary trouble is SANDBOX_INIT_MISSING, the rest `failure`.
 */
export async function createAndStart(
  docker: DockerClient,
  spec: ContainerSpec,
  onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  failure: { create: string; init: boolean },
  onStarting?: () => void,
): Promise<StartedContainer> {
  let id: string;
  try {
    id = await docker.createContainer(spec);
    besideStep('container.created');
  } catch (e) {
    throw dockerFailure('SANDBOX_CONTAINER_CREATE_FAILED', `cannot create ${failure.create} from ${spec.Image}`, e);
  }
  let removed: Promise<void> | null = null;
  const remove = (): Promise<void> => {
    removed ??= docker.removeContainer(id);
    return removed;
  };
  try {
    const { ended } = await docker.attachOutput(id, onOutput);
    try {
      const starting = docker.startContainer(id);
      onStarting?.();
      await starting;
      besideStep('container.started');
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      if (failure.init && INIT_MISSING.test(text)) throw initMissing('docker-init', e);
      throw e;
    }
    return { id, waited: waitFor(docker, id), logsEnded: ended, remove };
  } catch (e) {
    await remove().catch(() => undefined);
    if (e instanceof SandboxError) throw e;
    throw dockerFailure('SANDBOX_CONTAINER_START_FAILED', `cannot start the sandbox container ${id.slice(0, 12)}`, e);
  }
}

async function launchContainer(
  docker: DockerClient,
  image: string,
  options: SandboxStartOptions,
  { runDir, logs, token }: LaunchContext,
): Promise<ProgramHandle> {
  const labels = runLabels(options.runId, options.labels);
  const base = containerSpecFor(options.policy, image, { bundle: runDir.bundlePath, socketDir: runDir.socketDir }, labels);
  // The run's secret goes in the container's environment (not its command line, not the record).
  const spec: ContainerSpec = { ...base, Env: [...base.Env, `FERRY_STREAM_TOKEN=${token}`] };
  const started = await createAndStart(docker, spec, (stream, chunk) => logs.write(stream, chunk), { create: 'the sandbox container', init: options.policy.init });
  return containerHandle(docker, options.policy, started);
}

/** What a run on a container prepared elsewhere (the pool's) brings to its session. */
export type PreparedLaunch = Pick<SessionSetup, 'launch' | 'prepareRunDir' | 'appliedPolicy'>;

export interface DockerDriverOptions {
  docker?: DockerClient;
  /** Remove the containers of crashed orchestrators before the first run (default true). */
  reapOnStart?: boolean;
  /** The Node the image must hold when policy.image is null (FERRY_SANDBOX_NODE; default Node 18). */
  node?: SandboxNode;
}

/** A ferry container and whether the orchestrator that started it still runs. */
export interface FerryContainer extends ContainerSummary {
  runId: string | null;
  owner: OwnerState;
}

export class DockerDriver implements SandboxDriver {
  readonly kind = 'docker' as const;
  private readonly docker: DockerClient;
  private readonly reapOnStart: boolean;
  readonly node: SandboxNode;
  private reaped: Promise<void> | null = null;
  private resolved: { at: number; image: Promise<ResolvedImage> } | null = null;

  constructor(options: DockerDriverOptions = {}) {
    this.docker = options.docker ?? createDockerClient();
    this.reapOnStart = options.reapOnStart ?? true;
    this.node = options.node ?? DEFAULT_SANDBOX_NODE;
  }

  async available(): Promise<Availability> {
    let version: string;
    // Once the daemon answers, its version, its init binary and the image are asked side by
    // side (each a request to the daemon; /info is a slow one) and judged in this order.
    let init: Promise<{ path: string; commit: string | null }>;
    let resolved: Promise<ResolvedImage>;
    try {
      await this.docker.ping();
      const asked = this.docker.serverVersion();
      init = this.docker.initBinary();
      resolved = this.resolveImageNow();
      init.catch(() => undefined);
      resolved.catch(() => undefined);
      version = (await asked).version;
    } catch (e) {
      return { ok: false, reason: `the Docker daemon does not answer: ${e instanceof Error ? e.message : String(e)}` };
    }
    try {
      const binary = await init;
      // The daemon writes "N/A" when it could not run its init binary: Init: true would fail at start.
      if (binary.commit === 'N/A') throw initMissing(binary.path);
      const { image, imageId, nodeVersion } = await resolved;
      return { ok: true, detail: `Docker ${version}; image ${image} (${imageId.slice(0, 19)}, Node ${nodeVersion ?? this.node.major})` };
    } catch (e) {
      const hint = e instanceof SandboxError && e.hint ? ` (${e.hint})` : '';
      return {
        ok: false,
        reason: `Docker ${version} answers, but ${e instanceof Error ? e.message : String(e)}${hint}`,
        ...(e instanceof SandboxError ? { code: e.code } : {}),
      };
    }
  }

  /**
   * resolveImage, remembered for RESOLVED_IMAGE_MS: a run asks right after available() did
   * (`ferry run` chooses the driver, then makes its warm container), two requests to the
   * daemon on the way to the container's start. A container is still checked against the
   * image id at hand-out (warm.ts), and an image rebuilt later is seen after that time.
   */
  private resolveImageNow(): Promise<ResolvedImage> {
    const now = Date.now();
    if (this.resolved && now - this.resolved.at < RESOLVED_IMAGE_MS) return this.resolved.image;
    const image = resolveImage(this.docker, this.node);
    this.resolved = { at: now, image };
    image.catch(() => {
      if (this.resolved?.image === image) this.resolved = null;
    });
    return image;
  }

  /** The image a run with this policy gets: policy.image, else node:<major>-alpine or the offline build. */
  async image(policy: SandboxPolicy): Promise<ResolvedImage> {
    if (policy.image === null) return this.resolveImageNow();
    let info;
    try {
      info = await this.docker.inspectImage(policy.image);
    } catch (e) {
      throw dockerFailure('SANDBOX_DOCKER_UNAVAILABLE', `cannot inspect image ${policy.image}`, e);
    }
    if (!info) {
      throw new SandboxError('SANDBOX_IMAGE_MISSING', `the policy's image ${policy.image} is not present in the local Docker`, {
        hint: 'leave policy.image null to use node:<major>-alpine or the offline build (`ferry sandbox build-image`)',
      });
    }
    return { image: policy.image, imageId: info.id, nodeVersion: imageNodeVersion(info) };
  }

  /** The daemon this driver talks to (the pool creates its warm containers through it). */
  get client(): DockerClient {
    return this.docker;
  }

  /** Once per driver, before its first container: the containers of orchestrators that are gone are removed. */
  reapOnce(): Promise<void> {
    if (!this.reapOnStart) return Promise.resolve();
    // A reaping failure must not stop the run (`ferry sandbox gc` can retry).
    this.reaped ??= this.reapOrphans().then(
      () => undefined,
      () => undefined,
    );
    return this.reaped;
  }

  /** The run's options as the driver applies them (the program's uid), the image, and the applied policy for the record. */
  async prepare(options: SandboxStartOptions): Promise<{ run: SandboxStartOptions; image: ResolvedImage; applied: Record<string, unknown> }> {
    const image = await this.image(options.policy);
    const run = appliedOptions(options);
    const { Ferry, ...docker } = dockerFields(run.policy);
    return { run, image, applied: { Image: image.image, ...docker, Ferry } };
  }

  async start(options: SandboxStartOptions): Promise<SandboxSession> {
    await this.reapOnce();
    const { run, image, applied } = await this.prepare(options);
    return this.startOn(run, image, { appliedPolicy: applied, launch: (ctx) => launchContainer(this.docker, image.image, run, ctx) });
  }

  /**
   * A session on `image` with the launch (and, for a container prepared ahead by sandbox/pool.ts,
   * its run directory) from `own`: the checks, record and stream every Docker run goes through.
   */
  startOn(run: SandboxStartOptions, image: ResolvedImage, own: PreparedLaunch): Promise<SandboxSession> {
    return startSession({
      driver: 'docker',
      options: run,
      image: image.image,
      imageId: image.imageId,
      nodeVersion: image.nodeVersion,
      access: runDirAccess(run.policy, false),
      ...own,
    });
  }

  /** Ids of containers ferry started (optionally for one run) that still exist. */
  async leftovers(runId?: string): Promise<string[]> {
    return this.docker.listContainerIds(runId === undefined ? { [LABEL.managed]: 'true' } : { [LABEL.managed]: 'true', [LABEL.run]: runId });
  }

  /** Every ferry container with its run and whether its orchestrator still runs (`ferry sandbox ps`). */
  async containers(): Promise<FerryContainer[]> {
    const list = await this.docker.listContainers({ [LABEL.managed]: 'true' });
    return list.map((c) => ({ ...c, runId: c.labels[LABEL.run] ?? null, owner: ownerState(c.labels) }));
  }

  /**
   * Removes the containers whose orchestrator is gone (crashed, killed, or the machine
   * rebooted). With `all`, every ferry container, including those of live runs and those
   * whose owner cannot be told (`ferry sandbox gc --all`).
   */
  async reapOrphans(options: { all?: boolean } = {}): Promise<FerryContainer[]> {
    const victims = (await this.containers()).filter((c) => options.all === true || c.owner === 'gone');
    const removed: FerryContainer[] = [];
    for (const c of victims) {
      try {
        await this.docker.removeContainer(c.id);
        await removePoolDir(c.labels[LABEL.poolDir]);
        removed.push(c);
      } catch {
        // Removed by someone else meanwhile, or the daemon refused: the next gc tries again.
      }
    }
    return removed;
  }
}
