/**
 * The small part of the Docker Engine API ferry uses, behind an interface of its own so
 * that dockerode's types stop here and the driver and image code can be read (and
 * swapped) without them.
 */
import Dockerode from 'dockerode';
import { SandboxError } from '../src/core/errors.js';
import type { DockerPolicyFields } from './policy.js';

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
  /** The container's stdout/stderr as Docker multiplexes it (8-byte frame headers). Call before start. */
  attachOutput(id: string): Promise<NodeJS.ReadableStream>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after graceSeconds. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  killContainer(id: string): Promise<void>;
  waitContainer(id: string): Promise<{ statusCode: number }>;
  inspectContainer(id: string): Promise<ContainerState>;
  removeContainer(id: string): Promise<void>;
  /** Peak memory from `docker stats` (cgroup v1 only reports max_usage); null when unknown. */
  statsPeakMemory(id: string): Promise<number | null>;
  listContainerIds(labels: Record<string, string>): Promise<string[]>;
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
}

function statusOf(e: unknown): number | undefined {
  const code = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function asString(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** A DockerClient over dockerode; options as dockerode takes them (default: DOCKER_HOST or /var/run/docker.sock). */
export function createDockerClient(options?: Dockerode.DockerOptions): DockerClient {
  const docker = new Dockerode(options);
  const container = (id: string) => docker.getContainer(id);

  return {
    async ping() {
      await docker.ping();
    },

    async serverVersion() {
      const v = await docker.version();
      const info = (await docker.info()) as { CgroupVersion?: unknown };
      return { version: v.Version, apiVersion: v.ApiVersion, cgroupVersion: asString(info.CgroupVersion) };
    },

    async initBinary() {
      const info = (await docker.info()) as { InitBinary?: unknown; InitCommit?: { ID?: unknown } };
      return { path: asString(info.InitBinary) ?? 'docker-init', commit: asString(info.InitCommit?.ID) };
    },

    async inspectImage(name) {
      try {
        const info = await docker.getImage(name).inspect();
        return { id: info.Id, labels: info.Config?.Labels ?? {}, env: info.Config?.Env ?? [] };
      } catch (e) {
        if (statusOf(e) === 404) return null;
        throw e;
      }
    },

    async removeImage(id) {
      try {
        await docker.getImage(id).remove();
      } catch (e) {
        // 404: gone; 409: still in use by a container.
        if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
      }
    },

    async buildImage(context, tag, onProgress) {
      // version "1" is the classic builder: FROM scratch needs no registry and no BuildKit session.
      const stream = await docker.buildImage(context, { t: tag, version: '1', rm: true, forcerm: true });
      await new Promise<void>((resolve, reject) => {
        let failure: string | null = null;
        docker.modem.followProgress(
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
    },

    async createContainer(spec) {
      const c = await docker.createContainer(spec);
      return c.id;
    },

    async attachOutput(id) {
      return container(id).attach({ stream: true, stdout: true, stderr: true });
    },

    async startContainer(id) {
      await container(id).start();
    },

    async stopContainer(id, graceSeconds) {
      try {
        await container(id).stop({ t: graceSeconds });
      } catch (e) {
        // 304: already stopped; 404: already gone. Both are the state we wanted.
        if (statusOf(e) !== 304 && statusOf(e) !== 404) throw e;
      }
    },

    async killContainer(id) {
      try {
        await container(id).kill({ signal: 'SIGKILL' });
      } catch (e) {
        if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
      }
    },

    async waitContainer(id) {
      const r = (await container(id).wait()) as { StatusCode?: unknown };
      return { statusCode: typeof r.StatusCode === 'number' ? r.StatusCode : -1 };
    },

    async inspectContainer(id) {
      const info = await container(id).inspect();
      return {
        running: info.State.Running,
        exitCode: info.State.Running ? null : info.State.ExitCode,
        oomKilled: info.State.OOMKilled,
      };
    },

    async removeContainer(id) {
      try {
        await container(id).remove({ force: true, v: true });
      } catch (e) {
        // 404: gone; 409: removal already in progress.
        if (statusOf(e) !== 404 && statusOf(e) !== 409) throw e;
      }
    },

    async statsPeakMemory(id) {
      try {
        const s = (await container(id).stats({ stream: false })) as { memory_stats?: { max_usage?: unknown } };
        const peak = s.memory_stats?.max_usage;
        return typeof peak === 'number' && peak > 0 ? peak : null;
      } catch {
        return null;
      }
    },

    async listContainerIds(labels) {
      const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
      const list = await docker.listContainers({ all: true, filters: { label } });
      return list.map((c) => c.Id);
    },

    async listContainers(labels) {
      const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
      const list = await docker.listContainers({ all: true, filters: { label } });
      return list.map((c) => ({ id: c.Id, labels: c.Labels ?? {}, state: c.State, status: c.Status, createdAt: new Date(c.Created * 1000) }));
    },
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
