import { DockerDriver } from '../../sandbox/docker-driver.js';
import { buildOfflineImage } from '../../sandbox/image.js';
import type { SandboxDriver } from '../../sandbox/types.js';

/**
 * The real Docker driver, with the sandbox image built if it is missing. In CI a missing
 * daemon fails the suite: Docker tests are never skipped there.
 */
export async function dockerDriverForTests(): Promise<SandboxDriver> {
  const driver = new DockerDriver();
  let a = await driver.available();
  if (!a.ok && /image/i.test(a.reason)) {
    await buildOfflineImage();
    a = await driver.available();
  }
  if (!a.ok) throw new Error(`Docker is required for these tests: ${a.reason}. Run bash .ci/run, which installs and starts it.`);
  return driver;
}
