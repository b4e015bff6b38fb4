/**
 * The container policy, in one place. Defaults follow the case study's container spec
 * (512 MB, 1 CPU, 300 s, user 1000:1000, read-only root, no-new-privileges, all
 * capabilities dropped) plus what it forgot: no network at all, a pids limit, swap equal to
 * memory, a file-descriptor limit, an init process, and caps on log and output bytes.
 *
 * `dockerFields()` is the same policy in Docker's own field names (the container create
 * body: Config and HostConfig): what the Docker driver sends, what each run records and what
 * `ferry sandbox policy` prints. Nothing else decides how a container is confined.
 */
export interface SandboxPolicy {
  /** Image to run; resolved by sandbox/image.ts when not set (node:18-alpine if present, else ferry's offline build). */
  image: string | null;
  memoryBytes: number;
  /** Memory + swap; equal to memoryBytes means no swap. */
  memorySwapBytes: number;
  /** CPU quota in whole or fractional CPUs. */
  cpus: number;
  pidsLimit: number;
  /** Open file descriptors per process (RLIMIT_NOFILE, soft = hard). */
  nofileLimit: number;
  /**
   * How long the program may keep ferry waiting: to say ready, to answer a batch (from the
   * batch, or the previous reply while others are outstanding), to exit once told to end.
   * Time ferry spends on its own side (writing a slow target) does not count, so a long run
   * is not cut for its length. Then SIGTERM, then SIGKILL after killGraceMs.
   */
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL when the program is stopped. */
  killGraceMs: number;
  /** uid:gid inside the container. */
  user: string;
  readOnlyRootfs: boolean;
  tmpfsSizeBytes: number;
  /** Size of /dev/shm, the other writable tmpfs Docker gives a container (node does not use it). */
  shmSizeBytes: number;
  noNewPrivileges: boolean;
  capDrop: string[];
  networkMode: 'none';
  /** A minimal init (docker-init/tini) as pid 1: forwards signals, reaps zombies. */
  init: boolean;
  /** Log bytes (stdout+stderr) the program may write; past it the run ends as output_limit. */
  maxLogBytes: number;
  /** Log bytes kept in the run record (the newest lines, marked when earlier ones were dropped). */
  logTailBytes: number;
  /** Bytes the program may send on the row stream in the whole run; past it the run ends as output_limit. */
  maxOutputBytes: number;
  /** Largest single frame the program may send back; a larger one is a protocol_error. */
  maxFrameBytes: number;
}

export const defaultPolicy: SandboxPolicy = {
  image: null,
  memoryBytes: 512 * 1024 * 1024,
  memorySwapBytes: 512 * 1024 * 1024,
  cpus: 1,
  pidsLimit: 64,
  nofileLimit: 1024,
  timeoutMs: 300_000,
  killGraceMs: 2_000,
  user: '1000:1000',
  readOnlyRootfs: true,
  tmpfsSizeBytes: 16 * 1024 * 1024,
  shmSizeBytes: 1024 * 1024,
  noNewPrivileges: true,
  capDrop: ['ALL'],
  networkMode: 'none',
  init: true,
  maxLogBytes: 8 * 1024 * 1024,
  logTailBytes: 64 * 1024,
  maxOutputBytes: 1024 * 1024 * 1024,
  maxFrameBytes: 64 * 1024 * 1024,
};

/** Where things are inside the container; the only paths the program is given. */
export const SANDBOX_PATHS = {
  bundle: '/sandbox/bundle.cjs',
  /** The bundle's directory: a warm container (sandbox/warm.ts) mounts it whole and waits for the bundle to appear. */
  programDir: '/sandbox',
  streamDir: '/run/ferry',
  stream: '/run/ferry/stream.sock',
  node: '/usr/local/bin/node',
  tmp: '/tmp',
} as const;

/** V8's heap limit for the program: below the memory limit, so a heap overflow ends as a readable V8 error. */
export function heapLimitMiB(policy: SandboxPolicy): number {
  return Math.max(16, Math.floor((policy.memoryBytes * 0.75) / (1024 * 1024)));
}

export interface DockerHostConfig {
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  PidsLimit: number;
  Ulimits: { Name: 'nofile'; Soft: number; Hard: number }[];
  ReadonlyRootfs: boolean;
  Tmpfs: Record<string, string>;
  ShmSize: number;
  SecurityOpt: string[];
  CapDrop: string[];
  NetworkMode: 'none';
  Binds: string[];
  LogConfig: { Type: string; Config: Record<string, string> };
  IpcMode: 'private';
  Init: boolean;
  AutoRemove: false;
}

/** The policy as Docker's create body names it, minus Image and Labels (known per run). */
export interface DockerPolicyFields {
  User: string;
  Entrypoint: string[];
  Cmd: string[];
  /** An allow-list: the stream's path and nothing of the host (the image may add its own, e.g. PATH). */
  Env: string[];
  WorkingDir: string;
  NetworkDisabled: true;
  StopSignal: 'SIGTERM';
  StopTimeout: number;
  HostConfig: DockerHostConfig;
  /** What Docker has no field for and ferry enforces itself. */
  Ferry: {
    timeoutMs: number;
    killGraceMs: number;
    maxLogBytes: number;
    logTailBytes: number;
    maxOutputBytes: number;
    maxFrameBytes: number;
    heapLimitMiB: number;
  };
}

/**
 * The policy in Docker's field names. `binds` are the host paths of this run's bundle and
 * stream directory; the record and `ferry sandbox policy`, which have no run, show `<run dir>` there.
 */
export function dockerFields(policy: SandboxPolicy, binds: { bundle: string; streamDir: string } = { bundle: '<run dir>/bundle.cjs', streamDir: '<run dir>/stream' }): DockerPolicyFields {
  const graceSeconds = Math.max(1, Math.ceil(policy.killGraceMs / 1000));
  return {
    User: policy.user,
    Entrypoint: [SANDBOX_PATHS.node],
    Cmd: [`--max-old-space-size=${heapLimitMiB(policy)}`, SANDBOX_PATHS.bundle],
    Env: [`FERRY_STREAM=${SANDBOX_PATHS.stream}`],
    WorkingDir: SANDBOX_PATHS.tmp,
    NetworkDisabled: true,
    StopSignal: 'SIGTERM',
    StopTimeout: graceSeconds,
    HostConfig: {
      Memory: policy.memoryBytes,
      MemorySwap: policy.memorySwapBytes,
      NanoCpus: Math.round(policy.cpus * 1e9),
      PidsLimit: policy.pidsLimit,
      Ulimits: [{ Name: 'nofile', Soft: policy.nofileLimit, Hard: policy.nofileLimit }],
      ReadonlyRootfs: policy.readOnlyRootfs,
      // noexec: nothing written at run time can be executed or loaded as native code.
      Tmpfs: { [SANDBOX_PATHS.tmp]: `rw,noexec,nosuid,nodev,size=${policy.tmpfsSizeBytes}` },
      ShmSize: policy.shmSizeBytes,
      SecurityOpt: policy.noNewPrivileges ? ['no-new-privileges'] : [],
      CapDrop: [...policy.capDrop],
      NetworkMode: policy.networkMode,
      // The only host paths: the bundle and the stream directory, both read-only.
      Binds: [`${binds.bundle}:${SANDBOX_PATHS.bundle}:ro`, `${binds.streamDir}:${SANDBOX_PATHS.streamDir}:ro`],
      // The daemon keeps its own copy of the log too; cap it so a chatty program cannot fill its disk.
      LogConfig: { Type: 'json-file', Config: { 'max-size': String(Math.max(Math.min(policy.maxLogBytes, 64 * 1024 * 1024), 64 * 1024)), 'max-file': '1' } },
      IpcMode: 'private',
      Init: policy.init,
      AutoRemove: false,
    },
    Ferry: {
      timeoutMs: policy.timeoutMs,
      killGraceMs: policy.killGraceMs,
      maxLogBytes: policy.maxLogBytes,
      logTailBytes: policy.logTailBytes,
      maxOutputBytes: policy.maxOutputBytes,
      maxFrameBytes: policy.maxFrameBytes,
      heapLimitMiB: heapLimitMiB(policy),
    },
  };
}
