// Reports what the program can see and do from inside the sandbox.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { runHarness } from '../../../sandbox/harness/harness.js';
import { attempt } from './attempts.js';

void runHarness(() => ({
  uid: process.getuid?.() ?? null,
  gid: process.getgid?.() ?? null,
  env: Object.keys(process.env).sort(),
  writeRoot: attempt(() => writeFileSync('/ferry-probe', 'x')),
  writeTmp: attempt(() => writeFileSync('/tmp/ferry-probe', 'x')),
  readPasswd: attempt(() => readFileSync('/etc/passwd')),
  spawn: attempt(() => execFileSync(process.execPath, ['-e', '0'])),
}));
