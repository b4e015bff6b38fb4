/**
 * The sandbox's public surface for the orchestrator, the CLI and the demo.
 */
import { SandboxError } from '../src/core/errors.js';
import { appliedPolicy, DockerDriver } from './docker-driver.js';
import { buildOfflineImage, type SandboxNode } from './image.js';
import { LOCAL_SANDBOX_WARNING, LocalDriver } from './local-driver.js';
import type { SandboxPolicy } from './policy.js';
import { SandboxPool, type PoolLogger } from './pool.js';
import type { Availability, SandboxDriver } from './types.js';

export type { Availability, BatchOutcome, InputRow, OutputRow, SandboxDriver, SandboxSession, SandboxStartOptions } from './types.js';
export { defaultPolicy, type SandboxPolicy } from './policy.js';
export { DockerDriver, containerSpecFor, hostConfigFor } from './docker-driver.js';
export { LOCAL_SANDBOX_WARNING, LocalDriver } from './local-driver.js';
export {
  OFFLINE_IMAGE,
  UPSTREAM_IMAGE,
  buildOfflineImage,
  offlineImage,
  resolveImage,
  upstreamImage,
  type BuildOfflineImageOptions,
  type ResolvedImage,
  type SandboxNode,
} from './image.js';
export { createDockerClient, type DockerClient } from './docker-client.js';

export interface DriverChoice {
  driver: SandboxDriver;
  /** True when the program will run in the weaker local sandbox: say so to the person. */
  weaker: boolean;
  /** What was found: the Docker detail, or why Docker was not used and the local warning. */
  detail: string;
}

export interface ChooseDriverOptions {
  /** docker (default), or local: the weaker child-process sandbox on purpose (FERRY_SANDBOX=local). */
  prefer?: 'docker' | 'local';
  /** Accept the weaker local sandbox when Docker is not usable (the demo; `ferry run --allow-weak-sandbox`). */
  allowWeak?: boolean;
  /** Build the offline image when Docker answers but has no sandbox image. */
  buildImageIfMissing?: boolean;
  /** The Node the Docker image must hold (FERRY_SANDBOX_NODE via the config; default Node 18). */
  node?: SandboxNode;
  onProgress?: (line: string) => void;
  /** The Docker driver to judge (startEarly's, whose containers are already being made); default a new one. */
  docker?: DockerDriver;
}

/**
 * Docker when its daemon answers and an image is there. The weaker local sandbox only when
 * the caller allows it, and then with a warning for the person: it is not isolated.
 */
export async function chooseDriver(options: ChooseDriverOptions = {}): Promise<DriverChoice> {
  const weak = async (why: string): Promise<DriverChoice> => {
    if (!options.allowWeak) {
      throw new SandboxError('SANDBOX_UNAVAILABLE', `cannot run the program in Docker: ${why}`, {
        hint: 'start the Docker daemon (and build the image with `npm run sandbox:image`), or pass --allow-weak-sandbox to use the weaker local sandbox',
      });
    }
    const local = new LocalDriver();
    const localAvailable = await local.available();
    if (!localAvailable.ok) throw new SandboxError('SANDBOX_UNAVAILABLE', `no sandbox can run here: ${why}; ${localAvailable.reason}`);
    return { driver: local, weaker: true, detail: `Docker not used (${why}); ${LOCAL_SANDBOX_WARNING}` };
  };
  if (options.prefer === 'local') return weak('FERRY_SANDBOX=local');
  const docker = options.docker ?? new DockerDriver(options.node ? { node: options.node } : {});
  let available: Availability = await docker.available();
  if (!available.ok && options.buildImageIfMissing && available.code === 'SANDBOX_IMAGE_MISSING') {
    options.onProgress?.(`the sandbox image is missing: building it offline (Node ${docker.node.exact ?? docker.node.major} from the npm registry, no container registry)…`);
    await buildOfflineImage({ node: docker.node, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    available = await docker.available();
  }
  if (available.ok) return { driver: docker, weaker: false, detail: available.detail };
  return weak(available.reason);
}

export { DEFAULT_POOL_IDLE_MS, SandboxPool, type PoolLogger, type PoolOptions, type PoolStats } from './pool.js';

export interface EarlyStartOptions extends ChooseDriverOptions {
  /** Warm containers to start now (a run's --parallel); 0: none. */
  pool: number;
  policy: SandboxPolicy;
  idleTimeoutMs?: number;
  logger: PoolLogger;
}

/** The sandbox chosen, and its containers started, while the caller does its other start-up work. */
export interface EarlySandbox {
  /** The choice (rejects as chooseDriver would); with Docker, its driver is the pool. */
  choice(): Promise<DriverChoice>;
  /**
   * Resolves once the run's containers have had their start asked of the daemon (or none is
   * being made: no Docker, no image, no pool), or after `maxMs`, whichever comes first.
   */
  launching(maxMs: number): Promise<void>;
  /** Removes the warm containers no run took. */
  close(): Promise<void>;
}

/**
 * A single run's pool: the driver chosen and `pool` containers started at once, so their
 * start overlaps the plan's loading, the connections and the program's preparation (a CLI
 * run has no long-lived pool). A failure to choose is kept for choice(), not thrown here.
 */
export function startEarly(options: EarlyStartOptions): EarlySandbox {
  let pool: SandboxPool | null = null;
  let launched: Promise<void> = Promise.resolve();
  const docker = options.prefer === 'local' || options.pool <= 0 ? null : new DockerDriver(options.node ? { node: options.node } : {});
  if (docker) {
    // Exactly the run's containers: one it took is not replaced (it would only be removed at exit).
    const early = new SandboxPool(docker, { size: options.pool, policy: options.policy, logger: options.logger, refill: false, ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }) });
    pool = early;
    // The containers are made as soon as the daemon shows the image, beside the rest of the
    // availability check (its version and init binary: /info is a slow request), which still
    // decides below: a pool whose daemon is then judged unusable is closed unused. Without the
    // image (or the daemon) nothing is made, and nothing is warned about twice.
    launched = docker.image(appliedPolicy(options.policy)).then(
      () => {
        early.fill();
        return early.launching();
      },
      () => undefined,
    );
  }
  const chosen = chooseDriver({ ...options, ...(docker ? { docker } : {}) }).then(
    async (c): Promise<DriverChoice> => {
      if (pool && c.driver === docker) return { ...c, driver: pool };
      await pool?.close();
      return c;
    },
    async (e: unknown) => {
      await pool?.close();
      throw e;
    },
  );
  // Told when the caller asks for the choice; never an unhandled rejection meanwhile.
  chosen.catch(() => undefined);
  return {
    choice: () => chosen,
    launching: (maxMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, maxMs);
        void launched.then(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
    close: async () => {
      await chosen.catch(() => undefined);
      await pool?.close();
    },
  };
}
