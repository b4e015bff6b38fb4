// Looks for credentials everywhere a program could: its environment, every process's
// environment and command line, /run/secrets, the stream directory. Reports what it read.
import { readFileSync, readdirSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';

function read(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch (e) {
    return `<${(e as NodeJS.ErrnoException).code ?? 'error'}>`;
  }
}

function list(path: string): string {
  try {
    return readdirSync(path).join(',');
  } catch (e) {
    return `<${(e as NodeJS.ErrnoException).code ?? 'error'}>`;
  }
}

let pids: string[] = [];
try {
  pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
} catch {
  // The permission model (local driver) forbids it; reported below as what was read.
}
const seen = {
  env: JSON.stringify(process.env),
  proc1Environ: read('/proc/1/environ'),
  selfEnviron: read('/proc/self/environ'),
  parentEnviron: read(`/proc/${process.ppid}/environ`),
  everyEnviron: pids.map((p) => `${p}:${read(`/proc/${p}/environ`)}:${read(`/proc/${p}/cmdline`)}`).join('\n'),
  runSecrets: list('/run/secrets'),
  streamDir: list('/run/ferry'),
};
// Print it too: the log must not carry a secret either.
console.log(JSON.stringify(seen));
void runHarness(() => seen);
