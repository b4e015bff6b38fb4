/**
 * A warm container: created and started before its run, with the run's full policy, waiting
 * for its program. What stays per run is delivered at claim time into directories mounted at
 * creation (sandbox/run-dir.ts createWarmDir), never through the container's config:
 *
 * - `program/` (read-only at /sandbox) and `stream/` (read-only at /run/ferry), each 0700 and
 *   the program's uid, empty until a run claims the container;
 * - at claim: the run's socket is served in `stream/`, its secret written there as `token`
 *   (0400, the program's uid), then the verified bundle renamed into `program/`: that rename
 *   is the signal. The waiter (pid 1's child, a few lines of `node -e`) sees the bundle, reads
 *   the token into its environment and `require`s the bundle; the harness then connects, says
 *   ready with the token, and removes it from its environment as on a cold start;
 * - once the program said ready, ferry removes the token file.
 *
 * A container nobody claims exits on its own after `idleTimeoutMs` (exit code 75), so a ferry
 * that crashed leaves nothing running for long; its owner labels let the next ferry reap it.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { SandboxError } from '../src/core/errors.js';
import type { ContainerSpec, DockerClient } from './docker-client.js';
import { containerHandle, containerSpecFor, createAndStart, runLabels, type PreparedLaunch, type StartedContainer } from './docker-driver.js';
import type { ResolvedImage } from './image.js';
import { LABEL } from './owner.js';
import { dockerFields, SANDBOX_PATHS, type SandboxPolicy } from './policy.js';
import { createWarmDir, placeFile, readVerifiedBundle, TOKEN_NAME, type RunDir, type RunDirAccess, type WarmDir } from './run-dir.js';
import type { LaunchContext, ProgramHandle } from './session.js';
import type { SandboxStartOptions } from './types.js';

/** The waiter's exit code when no run came within its idle timeout (EX_TEMPFAIL). */
export const WARM_IDLE_EXIT = 75;
/** Output a warm container may write before its run claims it (kept, then told in the run's log). */
const EARLY_OUTPUT_BYTES = 64 * 1024;
const BUNDLE_NAME = SANDBOX_PATHS.bundle.slice(SANDBOX_PATHS.programDir.length + 1);

/**
 * The program a warm container runs until its run comes: it waits for the bundle (inotify on
 * the mounted directory, and a 100 ms poll in case the event is lost), then runs it in the
 * same process. Node built-ins only; nothing of the run is in it.
 */
export function waiterSource(idleTimeoutMs: number): string {
  const bundle = JSON.stringify(SANDBOX_PATHS.bundle);
  const token = JSON.stringify(`${SANDBOX_PATHS.streamDir}/${TOKEN_NAME}`);
  return [
    "'use strict';",
    "const fs = require('fs');",
    'let started = false; let watcher = null;',
    `const idle = setTimeout(() => { process.stderr.write('ferry warm container: no run within ${idleTimeoutMs} ms; exiting\\n'); process.exit(${WARM_IDLE_EXIT}); }, ${idleTimeoutMs});`,
    'const poll = setInterval(() => go(), 100);',
    'function go() {',
    `  if (started || !fs.existsSync(${bundle})) return;`,
    '  started = true; clearTimeout(idle); clearInterval(poll); if (watcher) watcher.close();',
    `  process.env.FERRY_STREAM_TOKEN = fs.readFileSync(${token}, 'utf8');`,
    `  require(${bundle});`,
    '}',
    `try { watcher = fs.watch(${JSON.stringify(SANDBOX_PATHS.programDir)}, () => go()); } catch (e) { /* the poll still sees it */ }`,
    'go();',
  ].join('\n');
}

/**
 * A warm container's create body: exactly the cold one (containerSpecFor, the same policy)
 * but for two things, both read-only mounts of empty directories and a command that waits:
 * the program's directory instead of the bundle file, and the waiter instead of the bundle.
 */
export function warmSpec(policy: SandboxPolicy, image: string, dir: Pick<WarmDir, 'programDir' | 'socketDir'>, labels: Record<string, string>, idleTimeoutMs: number): ContainerSpec {
  const base = containerSpecFor(policy, image, { bundle: dir.programDir, socketDir: dir.socketDir }, labels);
  const heap = base.Cmd[0] ?? `--max-old-space-size=${dockerFields(policy).Ferry.heapLimitMiB}`;
  return {
    ...base,
    Cmd: [heap, '-e', waiterSource(idleTimeoutMs)],
    HostConfig: {
      ...base.HostConfig,
      Binds: [`${dir.programDir}:${SANDBOX_PATHS.programDir}:ro`, `${dir.socketDir}:${SANDBOX_PATHS.streamDir}:ro`],
    },
  };
}

/** What decides whether a warm container fits a run: every field Docker applies, from the policy as the driver applies it. */
export function warmKey(policy: SandboxPolicy): string {
  const { Ferry: _ferry, ...fields } = dockerFields(policy);
  return JSON.stringify({ image: policy.image, ...fields });
}

/**
 * The hand-out check: what the daemon says the container runs with must be the run's policy
 * (a `docker update` could have loosened a limit since creation). Returns what differs.
 */
export function warmMismatches(expected: ContainerSpec, imageId: string, actual: Awaited<ReturnType<DockerClient['inspectConfig']>>): string[] {
  const problems: string[] = [];
  if (!actual.running) problems.push('it is not running');
  if (actual.imageId !== imageId) problems.push(`image ${actual.imageId}, not ${imageId}`);
  if (actual.user !== expected.User) problems.push(`user ${actual.user}, not ${expected.User}`);
  if (!actual.networkDisabled) problems.push('its network is not disabled');
  if (!isDeepStrictEqual(actual.cmd, expected.Cmd)) problems.push('its command is not the waiter');
  for (const e of expected.Env) if (!actual.env.includes(e)) problems.push(`its environment lacks ${e}`);
  if (actual.env.some((e) => e.startsWith('FERRY_STREAM_TOKEN='))) problems.push('its environment holds a stream token');
  for (const [field, want] of Object.entries(expected.HostConfig)) {
    if (!isDeepStrictEqual(actual.hostConfig[field], want)) problems.push(`HostConfig.${field} is ${JSON.stringify(actual.hostConfig[field])}, not ${JSON.stringify(want)}`);
  }
  return problems;
}

export interface WarmOptions {
  /** The policy as the driver applies it (DockerDriver.prepare: the program's uid). */
  policy: SandboxPolicy;
  image: ResolvedImage;
  access: RunDirAccess;
  slot: string;
  labels: Record<string, string>;
  idleTimeoutMs: number;
  /** Called once the container's start has been asked of the daemon (its create and attach answered). */
  onStarting?: () => void;
}

/** One warm container and its directory; handed to exactly one run, removed with it. */
export class WarmContainer {
  readonly key: string;
  /** When its waiter started counting its idle timeout (about: just before the container's start). */
  readonly createdAt = Date.now();
  private early: Array<{ stream: 'stdout' | 'stderr'; chunk: Buffer }> = [];
  private earlyBytes = 0;
  private sink: ((stream: 'stdout' | 'stderr', chunk: Buffer) => void) | null = null;
  private claimed = false;
  private disposed: Promise<void> | null = null;

  private constructor(
    private readonly docker: DockerClient,
    readonly options: WarmOptions,
    readonly dir: WarmDir,
    readonly spec: ContainerSpec,
    private started: StartedContainer | null = null,
  ) {
    this.key = warmKey(options.policy);
  }

  static async create(docker: DockerClient, options: WarmOptions): Promise<WarmContainer> {
    const dir = await createWarmDir(options.access);
    const labels = runLabels(`pool-${options.slot}`, { ...options.labels, [LABEL.pool]: options.slot, [LABEL.poolDir]: dir.root });
    const warm = new WarmContainer(docker, options, dir, warmSpec(options.policy, options.image.image, dir, labels, options.idleTimeoutMs));
    try {
      warm.started = await createAndStart(docker, warm.spec, (stream, chunk) => warm.output(stream, chunk), { create: 'a warm sandbox container', init: options.policy.init }, options.onStarting);
    } catch (e) {
      await dir.remove();
      throw e;
    }
    return warm;
  }

  get id(): string {
    return this.container.id;
  }

  /** Resolves when the container exits (idle timeout, killed, or its run ended). */
  get exited(): Promise<number | null> {
    return this.container.waited;
  }

  private get container(): StartedContainer {
    if (!this.started) throw new SandboxError('SANDBOX_NOT_STARTED', 'the warm container was not started');
    return this.started;
  }

  private output(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.sink) return this.sink(stream, chunk);
    if (this.earlyBytes >= EARLY_OUTPUT_BYTES) return;
    this.early.push({ stream, chunk });
    this.earlyBytes += chunk.length;
  }

  /** Takes it for one run; false when it was already taken (never twice). */
  claim(): boolean {
    if (this.claimed || this.disposed) return false;
    this.claimed = true;
    return true;
  }

  /** The daemon's view of the container against the run's policy; empty when it fits. */
  async verify(): Promise<string[]> {
    return warmMismatches(this.spec, this.options.image.imageId, await this.docker.inspectConfig(this.id));
  }

  /** The run's session on this container: its directory, its launch (token, then bundle), the policy as applied. */
  prepared(run: SandboxStartOptions): PreparedLaunch {
    const { Ferry, ...fields } = dockerFields(run.policy);
    let content: Buffer | null = null;
    const runDir: RunDir = {
      root: this.dir.root,
      bundlePath: join(this.dir.programDir, BUNDLE_NAME),
      socketDir: this.dir.socketDir,
      socketPath: join(this.dir.socketDir, 'stream.sock'),
      remove: () => this.dispose(),
    };
    return {
      appliedPolicy: { Image: this.options.image.image, ...fields, Cmd: this.spec.Cmd, HostConfig: this.spec.HostConfig, Ferry, Warm: { idleTimeoutMs: this.options.idleTimeoutMs } },
      prepareRunDir: async () => {
        content = await readVerifiedBundle(run.bundle);
        return runDir;
      },
      launch: (ctx) => this.launch(ctx, run.policy, content),
    };
  }

  private async launch(ctx: LaunchContext, policy: SandboxPolicy, content: Buffer | null): Promise<ProgramHandle> {
    if (content === null) throw new SandboxError('SANDBOX_BUNDLE_UNREADABLE', 'the warm container was launched before its bundle was read');
    const owner = this.options.access.program;
    // The secret first, then the bundle: the bundle's arrival is what the waiter acts on.
    const tokenPath = await placeFile(this.dir, this.dir.socketDir, TOKEN_NAME, ctx.token, 0o400, owner);
    await placeFile(this.dir, this.dir.programDir, BUNDLE_NAME, content, 0o444, null);
    for (const { stream, chunk } of this.early.splice(0)) ctx.logs.write(stream, chunk);
    this.sink = (stream, chunk) => ctx.logs.write(stream, chunk);
    const handle = containerHandle(this.docker, policy, this.container);
    return { ...handle, onReady: () => rm(tokenPath, { force: true }) };
  }

  /** Removes the container and its directory; safe to call more than once. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      const errors: unknown[] = [];
      await this.started?.remove().catch((e: unknown) => errors.push(e));
      await this.dir.remove().catch((e: unknown) => errors.push(e));
      if (errors.length > 0) throw errors[0];
    })();
    return this.disposed;
  }
}
