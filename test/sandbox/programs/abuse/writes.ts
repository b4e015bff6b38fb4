// Tries to write where nothing may be written.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';
import { attempt } from '../attempts.js';

/**
 * Bind mounts (a mount whose root inside its filesystem is not "/"), with ro/rw; Docker's
 * masks over /proc and the cgroup views under /sys are its own, not host paths. Null where
 * /proc is not readable (the local driver's permission model).
 */
function hostMounts(): string[] | null {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  return info
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      return { root: f[3] ?? '', point: f[4] ?? '', options: (f[5] ?? '').split(',') };
    })
    .filter((m) => m.root !== '/' && !m.point.startsWith('/proc/') && !m.point.startsWith('/sys/'))
    .map((m) => `${m.point} ${m.options.includes('ro') ? 'ro' : 'rw'}`)
    .sort();
}

const mounts = hostMounts();

void runHarness(() => ({
  mounts,
  root: attempt(() => writeFileSync('/evil', 'x')),
  etc: attempt(() => writeFileSync('/etc/evil', 'x')),
  passwd: attempt(() => appendFileSync('/etc/passwd', 'evil::0:0::/:/bin/sh\n')),
  bundle: attempt(() => appendFileSync('/sandbox/bundle.cjs', '\n// tampered\n')),
  streamDir: attempt(() => writeFileSync('/run/ferry/evil', 'x')),
}));
