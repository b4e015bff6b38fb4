// Writes to /tmp until it is full, then reports how far it got.
import { closeSync, openSync, writeSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

const chunk = Buffer.alloc(1024 * 1024, 0x61);
let written = 0;
let error: string | null = null;
const fd = openSync('/tmp/fill', 'w');
try {
  for (let i = 0; i < 100_000; i++) written += writeSync(fd, chunk);
} catch (e) {
  error = (e as NodeJS.ErrnoException).code ?? String(e);
} finally {
  closeSync(fd);
}
void runHarness(() => ({ written, error }));
