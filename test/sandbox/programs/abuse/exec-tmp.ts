// Writes an executable script and a shared library into /tmp and tries to run / load them.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

function attempt(fn: () => unknown): string {
  try {
    fn();
    return 'allowed';
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return err.code === 'ERR_DLOPEN_FAILED' ? `ERR_DLOPEN_FAILED: ${err.message}` : (err.code ?? err.message);
  }
}

const script = '/tmp/evil';
const written = attempt(() => {
  writeFileSync(script, `#!${process.execPath}\nconsole.log("escaped")\n`);
  chmodSync(script, 0o755);
});
const exec = attempt(() => execFileSync(script, { stdio: 'pipe' }));
// A real ELF library from the image, copied to /tmp: noexec forbids mapping it executable.
const lib = ['/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/libgcc_s.so.1', '/lib/ld-musl-x86_64.so.1'].find((p) => existsSync(p));
const copied = lib ? attempt(() => copyFileSync(lib, '/tmp/evil.node')) : 'no library in the image';
const dlopen = attempt(() => process.dlopen({ exports: {} } as NodeModule, '/tmp/evil.node'));
void runHarness(() => ({ written, exec, copied, dlopen }));
