/**
 * A DockerClient that speaks the Engine API itself, over node:http on the daemon's unix socket.
 *
 * Why not dockerode here: every `ferry run` talks to the daemon at its very start, to make its
 * container while the rest loads, and dockerode (with docker-modem and their streams) was about
 * 40 ms of that start's CPU before its first request, plus a first-use regex compile in Node's
 * http agent (it checks whether a socket's host is an IP). The calls a run makes are plain JSON
 * requests and one output stream, written out below. dockerode stays for what this does not
 * cover: a daemon over TCP, TLS or SSH (createDockerClient picks it then) and image builds.
 */
import { existsSync } from 'node:fs';
import { Agent, request, type IncomingMessage, type RequestOptions } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ContainerConfig, ContainerSpec, ContainerState, ContainerSummary, DockerClient, ImageInfo, OutputSink } from './docker-client.js';

/** A daemon answer that was not a success: its HTTP status and the daemon's own message. */
export class DockerHttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly json: unknown,
  ) {
    super(`(HTTP code ${statusCode}) ${message}`);
    this.name = 'DockerHttpError';
  }
}

/**
 * The daemon's unix socket for these options and this environment, as dockerode would find it
 * (its socketPath, DOCKER_HOST=unix://…, else the user's Docker Desktop socket or the system
 * one); null when the daemon is reached another way (TCP, TLS, SSH: dockerode's part).
 */
export function unixSocketFor(options: { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown } | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (options && typeof options.socketPath === 'string') return options.socketPath;
  if (options && (options.host !== undefined || options.protocol !== undefined || options.socketPath !== undefined)) return null;
  const host = env.DOCKER_HOST;
  if (host === undefined || host === '') {
    if (process.platform === 'win32') return null;
    const user = join(homedir(), '.docker', 'run', 'docker.sock');
    return existsSync(user) ? user : '/var/run/docker.sock';
  }
  if (host.startsWith('unix://') && host.length > 'unix://'.length) return host.slice('unix://'.length);
  return null;
}

type Query = Record<string, string | number | boolean>;

interface Answer {
  status: number;
  body: Buffer;
}

export class HttpDockerClient implements DockerClient {
  // Kept-alive connections: a run's dozen requests reuse a few sockets instead of a connect each.
  private readonly agent = new Agent({ keepAlive: true });
  private readonly info = sharedWhileAsked(() => this.json<DaemonInfo>('GET', '/info'));

  constructor(
    private readonly socketPath: string,
    /** The dockerode client for what this one does not speak (image builds); made on first use. */
    private readonly fallback: () => DockerClient,
  ) {}

  /** The request, its response not yet read (streams: attach). */
  private open(method: string, path: string, query: Query = {}, body?: unknown): Promise<IncomingMessage> {
    const search = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const options: RequestOptions & { servername: string } = {
        socketPath: this.socketPath,
        agent: this.agent,
        method,
        path: search ? `${path}?${search}` : path,
        headers: { host: 'docker', ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : { 'content-length': 0 }) },
        // No TLS here; an empty server name spares Node's agent its IP check of the host.
        servername: '',
      };
      const req = request(options, resolve);
      req.on('error', reject);
      req.end(payload ?? undefined);
    });
  }

  /** The whole answer; a status of 300 or more is a DockerHttpError unless `accept` lists it. */
  private async call(method: string, path: string, options: { query?: Query; body?: unknown; accept?: number[] } = {}): Promise<Answer> {
    const res = await this.open(method, path, options.query, options.body);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const answer = { status: res.statusCode ?? 0, body: Buffer.concat(chunks) };
    if (answer.status >= 300 && !(options.accept ?? []).includes(answer.status)) throw failure(answer);
    return answer;
  }

  private async json<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    return JSON.parse((await this.call(method, path, options)).body.toString('utf8')) as T;
  }

  readonly ping = async (): Promise<void> => {
    await this.call('GET', '/_ping');
  };

  readonly serverVersion = async (): Promise<ServerVersion> => {
    const [v, info] = await Promise.all([this.json<{ Version: string; ApiVersion: string }>('GET', '/version'), this.info()]);
    return serverVersionOf(v, info);
  };

  readonly initBinary = async (): Promise<InitBinary> => initBinaryOf(await this.info());

  readonly inspectImage = async (name: string): Promise<ImageInfo | null> => {
    const a = await this.call('GET', `/images/${name}/json`, { accept: [404] });
    if (a.status === 404) return null;
    const info = JSON.parse(a.body.toString('utf8')) as { Id: string; Config?: { Labels?: Record<string, string> | null; Env?: string[] | null } };
    return { id: info.Id, labels: info.Config?.Labels ?? {}, env: info.Config?.Env ?? [] };
  };

  readonly removeImage = async (id: string): Promise<void> => {
    // 404: gone; 409: still in use by a container.
    await this.call('DELETE', `/images/${id}`, { accept: [404, 409] });
  };

  readonly buildImage = (context: NodeJS.ReadableStream, tag: string, onProgress: (line: string) => void): Promise<void> =>
    this.fallback().buildImage(context, tag, onProgress);

  readonly createContainer = async (spec: ContainerSpec): Promise<string> => {
    const { name, ...body } = spec;
    return (await this.json<{ Id: string }>('POST', '/containers/create', { ...(name ? { query: { name } } : {}), body })).Id;
  };

  readonly attachOutput = async (id: string, onChunk: OutputSink): Promise<{ ended: Promise<void> }> => {
    // Answered once the daemon has attached: output from the start on comes down this response.
    const res = await this.open('POST', `/containers/${id}/attach`, { stream: 1, stdout: 1, stderr: 1 });
    if ((res.statusCode ?? 0) >= 300) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw failure({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
    }
    return { ended: demultiplex(res, onChunk) };
  };

  readonly startContainer = async (id: string): Promise<void> => {
    // 304: already started.
    await this.call('POST', `/containers/${id}/start`, { accept: [304] });
  };

  readonly stopContainer = async (id: string, graceSeconds: number): Promise<void> => {
    // 304: already stopped; 404: already gone. Both are the state we wanted.
    await this.call('POST', `/containers/${id}/stop`, { query: { t: graceSeconds }, accept: [304, 404] });
  };

  readonly killContainer = async (id: string): Promise<void> => {
    await this.call('POST', `/containers/${id}/kill`, { query: { signal: 'SIGKILL' }, accept: [404, 409] });
  };

  readonly waitContainer = async (id: string): Promise<{ statusCode: number }> => {
    const r = await this.json<{ StatusCode?: unknown }>('POST', `/containers/${id}/wait`);
    return { statusCode: typeof r.StatusCode === 'number' ? r.StatusCode : -1 };
  };

  private inspect(id: string): Promise<ContainerInspect> {
    return this.json<ContainerInspect>('GET', `/containers/${id}/json`);
  }

  readonly inspectContainer = async (id: string): Promise<ContainerState> => stateOf(await this.inspect(id));

  readonly inspectConfig = async (id: string): Promise<ContainerConfig> => configOf(await this.inspect(id));

  readonly removeContainer = async (id: string): Promise<void> => {
    // 404: gone; 409: removal already in progress.
    await this.call('DELETE', `/containers/${id}`, { query: { force: true, v: true }, accept: [404, 409] });
  };

  readonly statsPeakMemory = async (id: string): Promise<number | null> => {
    try {
      const s = await this.json<{ memory_stats?: { max_usage?: unknown } }>('GET', `/containers/${id}/stats`, { query: { stream: false } });
      const peak = s.memory_stats?.max_usage;
      return typeof peak === 'number' && peak > 0 ? peak : null;
    } catch {
      return null;
    }
  };

  private list(labels: Record<string, string>): Promise<Array<{ Id: string; Labels?: Record<string, string> | null; State: string; Status: string; Created: number }>> {
    const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    return this.json('GET', '/containers/json', { query: { all: true, filters: JSON.stringify({ label }) } });
  }

  readonly listContainerIds = async (labels: Record<string, string>): Promise<string[]> => (await this.list(labels)).map((c) => c.Id);

  readonly listContainers = async (labels: Record<string, string>): Promise<ContainerSummary[]> => (await this.list(labels)).map(summaryOf);
}

/** What ferry reads of a container's inspection (both clients: the daemon's JSON as dockerode passes it on). */
export interface ContainerInspect {
  Image: string;
  State: { Running: boolean; ExitCode: number; OOMKilled: boolean };
  Config: { User: string; Env?: string[] | null; Cmd?: string[] | null; NetworkDisabled?: boolean };
  HostConfig: object;
}

export function stateOf(info: ContainerInspect): ContainerState {
  return { running: info.State.Running, exitCode: info.State.Running ? null : info.State.ExitCode, oomKilled: info.State.OOMKilled };
}

export function configOf(info: ContainerInspect): ContainerConfig {
  return {
    running: info.State.Running,
    imageId: info.Image,
    user: info.Config.User,
    env: info.Config.Env ?? [],
    cmd: info.Config.Cmd ?? [],
    networkDisabled: info.Config.NetworkDisabled === true,
    hostConfig: info.HostConfig as Record<string, unknown>,
  };
}

/** One entry of the daemon's container list, as `ferry sandbox ps` shows it. */
export function summaryOf(c: { Id: string; Labels?: Record<string, string> | null; State: string; Status: string; Created: number }): ContainerSummary {
  return { id: c.Id, labels: c.Labels ?? {}, state: c.State, status: c.Status, createdAt: new Date(c.Created * 1000) };
}

export function asString(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** What ferry reads of the daemon's /info. */
export interface DaemonInfo {
  CgroupVersion?: unknown;
  InitBinary?: unknown;
  InitCommit?: { ID?: unknown };
}

export type ServerVersion = { version: string; apiVersion: string; cgroupVersion: string | null };
export type InitBinary = { path: string; commit: string | null };

export function serverVersionOf(v: { Version: string; ApiVersion: string }, info: DaemonInfo): ServerVersion {
  return { version: v.Version, apiVersion: v.ApiVersion, cgroupVersion: asString(info.CgroupVersion) };
}

/** The daemon's init binary for `Init: true`; commit "N/A" when the daemon could not run it. */
export function initBinaryOf(info: DaemonInfo): InitBinary {
  return { path: asString(info.InitBinary) ?? 'docker-init', commit: asString(info.InitCommit?.ID) };
}

/**
 * `ask`, one call in flight for the callers asking at the same time, not kept once answered.
 * For /info (both clients): a slow request that costs the daemon real CPU (it runs its init
 * binary and runc to read their versions), asked twice at once by the availability check (the
 * version and the init binary) while a run's container starts beside it.
 */
export function sharedWhileAsked<T>(ask: () => Promise<T>): () => Promise<T> {
  let asked: Promise<T> | null = null;
  return () => {
    asked ??= ask().finally(() => {
      asked = null;
    });
    return asked;
  };
}

function failure(a: Answer): DockerHttpError {
  const text = a.body.toString('utf8');
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON: the text is the message.
  }
  const message = asString((json as { message?: unknown } | null)?.message) ?? (text.trim() || 'no message');
  return new DockerHttpError(a.status, message, json);
}

/**
 * Docker's multiplexed output (no TTY): frames of an 8-byte header (stream 1 stdout, 2 stderr;
 * three zero bytes; the payload's length, big-endian) and the payload, cut anywhere across
 * chunks. Resolves when the stream ends, closes or breaks.
 */
export function demultiplex(raw: NodeJS.ReadableStream, onChunk: OutputSink): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  raw.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const kind = pending[0];
      const payload = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      if (size > 0) onChunk(kind === 2 ? 'stderr' : 'stdout', payload);
    }
  });
  return new Promise<void>((resolve) => {
    raw.on('end', () => resolve());
    raw.on('close', () => resolve());
    raw.on('error', () => resolve());
  });
}
