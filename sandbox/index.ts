/**
 * The sandbox's public surface for the orchestrator, the CLI and the demo.
 */
import { SandboxError } from '../src/errors.js';
import { DockerDriver } from './docker-driver.js';
import { LOCAL_SANDBOX_WARNING, LocalDriver } from './local-driver.js';
import type { Availability, SandboxDriver } from './types.js';

export type { Availability, BatchOutcome, InputRow, OutputRow, SandboxDriver, SandboxSession, SandboxStartOptions } from './types.js';
export { defaultPolicy, type SandboxPolicy } from './policy.js';
export { DockerDriver, containerSpecFor, hostConfigFor } from './docker-driver.js';
export { LOCAL_SANDBOX_WARNING, LocalDriver } from './local-driver.js';
export { OFFLINE_IMAGE, UPSTREAM_IMAGE, buildOfflineImage, resolveImage, type BuildOfflineImageOptions, type ResolvedImage } from './image.js';
export { createDockerClient, type DockerClient } from './docker-client.js';

export interface DriverChoice {
  driver: SandboxDriver;
  /** True when the program will run in the weaker local sandbox: say so to the person. */
  weaker: boolean;
  /** What was found: the Docker detail, or why Docker was not used and the local warning. */
  detail: string;
}

/**
 * Docker when its daemon answers and an image is there; otherwise the local sandbox, unless
 * the caller requires Docker. `docker: 'require'` turns a missing Docker into a refusal.
 */
export async function chooseDriver(options: { docker?: 'prefer' | 'require' } = {}): Promise<DriverChoice> {
  const docker = new DockerDriver();
  const available: Availability = await docker.available();
  if (available.ok) return { driver: docker, weaker: false, detail: available.detail };
  if (options.docker === 'require') {
    throw new SandboxError('SANDBOX_DOCKER_REQUIRED', `Docker is required but not usable: ${available.reason}`, {
      hint: 'start the Docker daemon, then `npm run sandbox:image` if no sandbox image is present',
    });
  }
  const local = new LocalDriver();
  const localAvailable = await local.available();
  if (!localAvailable.ok) {
    throw new SandboxError('SANDBOX_UNAVAILABLE', `no sandbox can run here: ${available.reason}; ${localAvailable.reason}`);
  }
  return { driver: local, weaker: true, detail: `Docker not used (${available.reason}); ${LOCAL_SANDBOX_WARNING}` };
}
