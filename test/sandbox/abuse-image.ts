/**
 * A test-only image: the sandbox image plus the host's perl, which can issue any system
 * call by number (`syscall`). It stands for native code an attacker might bring: the
 * sandbox image itself has nothing but node, and /tmp is noexec, so the hostile program
 * could not run such code otherwise. The container policy is the same as for any run.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { parseLdd, tarStream } from '../../sandbox/image.js';
import { ensureImage } from './helpers.js';

const run = promisify(execFile);
export const SYSCALL_IMAGE = 'ferry-abuse-syscalls:test';
export const PERL_IN_IMAGE = '/usr/bin/perl';

export async function ensureSyscallImage(): Promise<string> {
  const docker = createDockerClient();
  const base = await ensureImage();
  const existing = await docker.inspectImage(SYSCALL_IMAGE);
  if (existing && existing.labels['ferry.test.base'] === base.imageId) return SYSCALL_IMAGE;
  const work = await mkdtemp(join(tmpdir(), 'ferry-abuse-image-'));
  try {
    const rootfs = join(work, 'rootfs');
    const perl = await realpath('/usr/bin/perl').catch(() => {
      throw new Error('the syscall abuse tests need the host perl (/usr/bin/perl, package perl-base)');
    });
    const { stdout } = await run('ldd', [perl]);
    for (const file of [perl, ...parseLdd(stdout)]) {
      const target = join(rootfs, file === perl ? PERL_IN_IMAGE : file);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(await realpath(file), target);
      await chmod(target, 0o755);
    }
    await writeFile(
      join(work, 'Dockerfile'),
      `FROM ${base.imageId}\nCOPY rootfs/ /\nLABEL ferry.test.base=${JSON.stringify(base.imageId)} ferry.test=abuse\n`,
    );
    await docker.buildImage(tarStream(work), SYSCALL_IMAGE, () => undefined);
    if (existing) await docker.removeImage(existing.id);
    return SYSCALL_IMAGE;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
