import { DockerDriver } from '../../sandbox/docker-driver.js';
import { buildOfflineImage } from '../../sandbox/image.js';
import { LocalDriver } from '../../sandbox/local-driver.js';
import type { SandboxDriver } from '../../sandbox/types.js';
import { SandboxError } from '../errors.js';
import type { Say } from '../chain.js';

export interface DriverChoice {
  driver: SandboxDriver;
  /** What a person should know about the sandbox in use, in one line. */
  banner: string;
  weak: boolean;
}

/**
 * Docker when it answers; the weaker local sandbox only when the caller allows it
 * (`ferry run --allow-weak-sandbox`, FERRY_SANDBOX=local, or the demo on a machine
 * without Docker), and then said plainly.
 */
export async function chooseDriver(options: {
  prefer: 'docker' | 'local';
  allowWeak: boolean;
  /** Build the offline image when Docker answers but has no sandbox image (the demo does). */
  buildImageIfMissing?: boolean;
  say?: Say;
}): Promise<DriverChoice> {
  const say = options.say ?? (() => {});
  const weak = (why: string): DriverChoice => ({
    driver: new LocalDriver(),
    banner: `⚠ WEAKER SANDBOX: ${why}. The program runs in a local Node child process (permission model: no file writes, no child processes; memory and time limits) — not in a container. Do not run untrusted programs this way.`,
    weak: true,
  });
  if (options.prefer === 'local') {
    if (!options.allowWeak) {
      throw new SandboxError('SANDBOX_WEAK_NOT_ALLOWED', 'FERRY_SANDBOX=local asks for the weaker local sandbox', {
        hint: 'add --allow-weak-sandbox to accept it, or use Docker',
      });
    }
    return weak('FERRY_SANDBOX=local');
  }
  const docker = new DockerDriver();
  let available = await docker.available();
  if (!available.ok && options.buildImageIfMissing && /image/i.test(available.reason) && /answers/.test(available.reason)) {
    say('   the sandbox image is missing: building it offline (node 18 from the npm registry, no container registry)…');
    await buildOfflineImage({ onProgress: (l) => say(`   ${l}`) });
    available = await docker.available();
  }
  if (available.ok) return { driver: docker, banner: `🐳 Docker sandbox: ${available.detail}`, weak: false };
  if (options.allowWeak) return weak(available.reason);
  throw new SandboxError('SANDBOX_UNAVAILABLE', `cannot run the program in Docker: ${available.reason}`, {
    hint: 'start the Docker daemon (and build the image with `npm run sandbox:image`), or pass --allow-weak-sandbox to use the weaker local sandbox',
  });
}
