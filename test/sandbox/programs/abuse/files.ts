// Opens files until the descriptor limit refuses, then reports how many.
import { closeSync, openSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

const fds: number[] = [];
let error: string | null = null;
for (let i = 0; i < 100_000; i++) {
  try {
    fds.push(openSync('/sandbox/bundle.cjs', 'r'));
  } catch (e) {
    error = (e as NodeJS.ErrnoException).code ?? String(e);
    break;
  }
}
// Keeps them open: the harness must still work with what is left, or the run ends cleanly.
const opened = fds.length;
for (const fd of fds.splice(0, 64)) closeSync(fd);
void runHarness(() => ({ opened, error }));
