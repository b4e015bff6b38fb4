// Tries to write where nothing may be written.
import { appendFileSync, writeFileSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

function attempt(fn: () => unknown): string {
  try {
    fn();
    return 'allowed';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

void runHarness(() => ({
  root: attempt(() => writeFileSync('/evil', 'x')),
  etc: attempt(() => writeFileSync('/etc/evil', 'x')),
  passwd: attempt(() => appendFileSync('/etc/passwd', 'evil::0:0::/:/bin/sh\n')),
  bundle: attempt(() => appendFileSync('/sandbox/bundle.cjs', '\n// tampered\n')),
  streamDir: attempt(() => writeFileSync('/run/ferry/evil', 'x')),
}));
