/**
 * The small part of the Docker Engine API ferry uses, behind an interface of its own so
 * that dockerode's types stop here and the driver and image code can be read (and
 * swapped) without them.
 */
import { Writable } from 'node:stream';
import { createRequire, Module } from 'node:module';
import type Dockerode from 'dockerode';
import { SandboxError } from '../src/core/errors.js';
import type { DockerPolicyFields } from './policy.js';
import { asString, configOf, HttpDockerClient, initBinaryOf, serverVersionOf, sharedWhileAsked, stateOf, summaryOf, unixSocketFor, type DaemonInfo, type InitBinary, type ServerVersion } from './docker-http.js';

/** The container create body, as much of it as ferry sets: the policy's Docker fields plus image and labels. */
export interface ContainerSpec extends Omit<DockerPolicyFields, 'Ferry'> {
  name?: string;
  Image: string;
  Labels: Record<string, string>;
  AttachStdout: boolean;
  AttachStderr: boolean;
  AttachStdin: false;
  Tty: false;
}

/** One container ferry started, as `ferry sandbox ps` shows it. */
export interface ContainerSummary {
  id: string;
  labels: Record<string, string>;
  /** created, running, exited, … as Docker says. */
  state: string;
  status: string;
  createdAt: Date;
}

export interface ContainerState {
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
}

/** What a container was created with, as the daemon reports it (the pool checks it before handing one out). */
export interface ContainerConfig {
  running: boolean;
  /** The image id (sha256:…) the container runs. */
  imageId: string;
  user: string;
  env: string[];
  cmd: string[];
  networkDisabled: boolean;
  hostConfig: Record<string, unknown>;
}

export interface ImageInfo {
  id: string;
  labels: Record<string, string>;
  /** The image's Config.Env ("NAME=value"); the official node images say their NODE_VERSION there. */
  env?: string[];
}

export interface DockerClient {
  /** Resolves when the daemon answers; rejects otherwise. */
  ping(): Promise<void>;
  serverVersion(): Promise<{ version: string; apiVersion: string; cgroupVersion: string | null }>;
  /** The daemon's init binary for `Init: true`; commit "N/A" when the daemon could not run it. */
  initBinary(): Promise<{ path: string; commit: string | null }>;
  inspectImage(name: string): Promise<ImageInfo | null>;
  /** Removes an image unless a container still uses it (then it stays, untagged). */
  removeImage(id: string): Promise<void>;
  /** Classic-builder build of a tar context; onProgress gets each line of build output. */
  buildImage(context: NodeJS.ReadableStream, tag: string, onProgress: (line: string) => void): Promise<void>;
  createContainer(spec: ContainerSpec): Promise<string>;
  /**
   * The container's stdout and stderr, each chunk to onChunk as it comes; `ended` resolves
   * when the stream ends (or breaks). Call before start.
   */
  attachOutput(id: string, onChunk: OutputSink): Promise<{ ended: Promise<void> }>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after graceSeconds. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  killContainer(id: string): Promise<void>;
  waitContainer(id: string): Promise<{ statusCode: number }>;
  inspectContainer(id: string): Promise<ContainerState>;
  inspectConfig(id: string): Promise<ContainerConfig>;
  removeContainer(id: string): Promise<void>;
  /** Peak memory from `docker stats` (cgroup v1 only reports max_usage); null when unknown. */
  statsPeakMemory(id: string): Promise<number | null>;
  listContainerIds(labels: Record<string, string>): Promise<string[]>;
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
}

export type OutputSink = (stream: 'stdout' | 'stderr', chunk: Buffer) => void;

/**
 * Splits Docker's multiplexed attach stream into stdout and stderr with docker-modem's own
 * demuxStream; resolves when the stream ends, closes or breaks. The output cap is the log
 * collector's (logs.ts), which every chunk goes through.
 */
export function demuxDockerOutput(modem: Pick<Dockerode['modem'], 'demuxStream'>, raw: NodeJS.ReadableStream, onChunk: OutputSink): Promise<void> {
  const sink = (stream: 'stdout' | 'stderr') =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        onChunk(stream, chunk);
        callback();
      },
    });
  const ended = new Promise<void>((resolve) => {
    raw.on('end', () => resolve());
    raw.on('close', () => resolve());
    raw.on('error', () => resolve());
  });
  modem.demuxStream(raw, sink('stdout'), sink('stderr'));
  return ended;
}

function statusOf(e: unknown): number | undefined {
  const code = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}


/** A DockerClient over dockerode; options as dockerode takes them (default: DOCKER_HOST or /var/run/docker.sock). */
const require = createRequire(import.meta.url);

/**
 * dockerode requires, at load, modules it calls only for features ferry never uses: its BuildKit
 * session (gRPC and a protobuf loader, about half a second of CPU; ferry builds the sandbox
 * image with the classic builder), docker-modem's SSH transport (ssh2 and its crypto; ferry
 * talks to a local socket or TCP DOCKER_HOST) and tar-fs (only buildImage's context; ferry
 * hands it a tar stream it made). Together they were most of dockerode's load time, paid by
 * every `ferry run`. A stand-in takes each one's place in the require cache and loads the
 * real module on first use (a call, a `new`, or reading a property), so nothing is lost if it
 * is ever used. If a package's layout changes, its real module simply loads as before.
 */
function deferDockerodeExtras(): void {
  const fromDockerode = (request: string) => createRequire(require.resolve('dockerode')).resolve(request);
  const fromModem = (request: string) => createRequire(fromDockerode('docker-modem')).resolve(request);
  for (const locate of [() => fromDockerode('dockerode/lib/session.js'), () => fromModem('./ssh.js'), () => fromDockerode('tar-fs')]) {
    let path: string;
    try {
      path = locate();
    } catch {
      continue;
    }
    if (!require.cache[path]) require.cache[path] = standIn(path);
  }
}

/** A module whose exports load the real module at `path` on first use and forward to it. */
function standIn(path: string): Module {
  let real: unknown;
  const load = (): object => {
    if (real === undefined) {
      delete require.cache[path];
      real = require(path) as unknown;
    }
    return real as object;
  };
  const stand = new Module(path);
  stand.filename = path;
  stand.loaded = true;
  // A function target, so a stand-in can be called and constructed as well as read.
  stand.exports = new Proxy(function deferred() {}, {
    apply: (_t, self, args) => Reflect.apply(load() as (...a: unknown[]) => unknown, self, args),
    construct: (_t, args) => Reflect.construct(load() as new (...a: unknown[]) => object, args),
    get: (_t, key) => Reflect.get(load(), key),
    has: (_t, key) => Reflect.has(load(), key),
  });
  return stand;
}

/**
 * The daemon's client: ferry's own over node:http when the daemon is on a unix socket (the
 * usual case: docker-http.ts, which keeps dockerode for image builds), else dockerode (TCP,
 * TLS, SSH).
 */
export function createDockerClient(options?: Dockerode.DockerOptions): DockerClient {
  const socket = unixSocketFor(options);
  if (socket === null) return dockerodeClient(options);
  let viaDockerode: DockerClient | null = null;
  return new HttpDockerClient(socket, () => (viaDockerode ??= dockerodeClient(options)));
}

function dockerodeClient(options?: Dockerode.DockerOptions): DockerClient {
  // Required here, not imported at the top: dockerode and its dependencies take a good part of
  // a second to load, which commands that never reach Docker (ferry --help, show) must not pay.
  deferDockerodeExtras();
  const DockerodeClass = require('dockerode') as typeof Dockerode;
  return new DockerodeClient(new DockerodeClass(options));
}

/** Methods as own properties, so a client can be spread into a variant (`{ ...real, initBinary }`). */
class DockerodeClient implements DockerClient {
  constructor(private readonly docker: Dockerode) {}

  private container(id: string) {
    return this.docker.getContainer(id);
  }

  readonly ping = async (): Promise<void> => {
    await this.docker.ping();
  };

  private readonly info = sharedWhileAsked(() => this.docker.info() as Promise<DaemonInfo>);

  readonly serverVersion = async (): Promise<ServerVersion> => {
    const [v, info] = await Promise.all([this.docker.version(), this.info()]);
    return serverVersionOf(v, info);
  };

  readonly initBinary = async (): Promise<InitBinary> => initBinaryOf(await this.info());

  readonly inspectImage = async (name: string): Promise<ImageInfo | null> => {
    try {
      const info = await this.docker.getImage(name).inspect();
      return { id: info.Id, labels: info.Config?.Labels ?? {}, env: info.Config?.Env ?? [] };
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  };

  readonly removeImage = async (id: string): Promise<void> => {
    try {
      await this.docker.getImage(id).remove();
    } catch (e) {
      // 404: gone; 409: still in use by a container.
      if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
    }
  };

  readonly buildImage = async (context: NodeJS.ReadableStream, tag: string, onProgress: (line: string) => void): Promise<void> => {
    // version "1" is the classic builder: FROM scratch needs no registry and no BuildKit session.
    const stream = await this.docker.buildImage(context, { t: tag, version: '1', rm: true, forcerm: true });
    await new Promise<void>((resolve, reject) => {
      let failure: string | null = null;
      this.docker.modem.followProgress(
        stream,
        (err) => {
          if (err) reject(err);
          else if (failure) reject(new Error(failure));
          else resolve();
        },
        (event: { stream?: unknown; error?: unknown; errorDetail?: { message?: unknown } }) => {
          const text = asString(event.stream);
          if (text) for (const line of text.split('\n')) if (line.trim()) onProgress(line.trimEnd());
          const error = asString(event.errorDetail?.message) ?? asString(event.error);
          if (error) failure = error;
        },
      );
    });
  };

  readonly createContainer = async (spec: ContainerSpec): Promise<string> => {
    const c = await this.docker.createContainer(spec);
    return c.id;
  };

  readonly attachOutput = async (id: string, onChunk: OutputSink): Promise<{ ended: Promise<void> }> => {
    const raw = await this.container(id).attach({ stream: true, stdout: true, stderr: true });
    return { ended: demuxDockerOutput(this.docker.modem, raw, onChunk) };
  };

  readonly startContainer = async (id: string): Promise<void> => {
    await this.container(id).start();
  };

  readonly stopContainer = async (id: string, graceSeconds: number): Promise<void> => {
    try {
      await this.container(id).stop({ t: graceSeconds });
    } catch (e) {
      // 304: already stopped; 404: already gone. Both are the state we wanted.
      if (statusOf(e) !== 304 && statusOf(e) !== 404) throw e;
    }
  };

  readonly killContainer = async (id: string): Promise<void> => {
    try {
      await this.container(id).kill({ signal: 'SIGKILL' });
    } catch (e) {
      if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
    }
  };

  readonly waitContainer = async (id: string): Promise<{ statusCode: number }> => {
    const r = (await this.container(id).wait()) as { StatusCode?: unknown };
    return { statusCode: typeof r.StatusCode === 'number' ? r.StatusCode : -1 };
  };

  readonly inspectContainer = async (id: string): Promise<ContainerState> => stateOf(await this.container(id).inspect());

  readonly inspectConfig = async (id: string): Promise<ContainerConfig> => configOf(await this.container(id).inspect());

  readonly removeContainer = async (id: string): Promise<void> => {
    try {
      await this.container(id).remove({ force: true, v: true });
    } catch (e) {
      // 404: gone; 409: removal already in progress.
      if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
    }
  };

  readonly statsPeakMemory = async (id: string): Promise<number | null> => {
    try {
      const s = (await this.container(id).stats({ stream: false })) as { memory_stats?: { max_usage?: unknown } };
      const peak = s.memory_stats?.max_usage;
      return typeof peak === 'number' && peak > 0 ? peak : null;
    } catch {
      return null;
    }
  };

  readonly listContainerIds = async (labels: Record<string, string>): Promise<string[]> => {
    const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    const list = await this.docker.listContainers({ all: true, filters: { label } });
    return list.map((c) => c.Id);
  };

  readonly listContainers = async (labels: Record<string, string>): Promise<ContainerSummary[]> => {
    const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    const list = await this.docker.listContainers({ all: true, filters: { label } });
    return list.map(summaryOf);
  };
}

/** Wraps a daemon failure in a SandboxError with a stable code. */
export function dockerFailure(code: string, what: string, cause: unknown): SandboxError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SandboxError(code, `${what}: ${detail}`, {
    cause,
    hint: 'check that the Docker daemon is running and that this user may use it (`docker info`)',
  });
}
