// Spawns processes until the kernel refuses (the pids limit), holds them, then reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

function cgroup(file: string): string | null {
  try {
    return readFileSync(`/sys/fs/cgroup/pids/${file}`, 'utf8').trim();
  } catch {
    return null;
  }
}

void (async () => {
  const children: ChildProcess[] = [];
  let refused: string | null = null;
  for (let i = 0; i < 10_000 && refused === null; i++) {
    // Each child is a node that would spawn more if it could; it holds its process slot.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const failed = await new Promise<string | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    if (failed) refused = failed;
    else children.push(child);
  }
  const found = { spawned: children.length, refused, pidsMax: cgroup('pids.max'), pidsPeak: cgroup('pids.current') };
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
  await runHarness(() => found);
})();
