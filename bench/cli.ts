/**
 * `npm run bench:cli`: how long `ferry` takes to start, median of 10 spawns each of
 * `ferry --help`, `ferry show <plan>` (the case study's plan, made on an embedded
 * PostgreSQL) and `ferry run --help` (run's modules loaded, nothing run: what the `boot`
 * phase of `ferry run` pays before the command starts): the compiled CLI (dist/,
 * `npm run build`) against the TypeScript sources through tsx (FERRY_TSX=1, the way every
 * command started before) in the same run, with the ratio.
 * Wall time is what a person waits; CPU time (the ferry process's own user + system) is the
 * steadier figure on a shared machine. `node -e 0` is the floor: Node's own start here.
 * Builds dist/ first when it is missing or stale. Prints figures; asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { distIsFresh } from '../bin/dist-state.mjs';
import { BIN, expectOk, median, say, startCase, type FerryResult } from './case-env.js';

const RUNS = 10;
const root = join(BIN, '..', '..');

if (!distIsFresh(root)) {
  say('dist/ is missing or older than the sources: npm run build');
  execFileSync(process.execPath, [join(root, 'bin', 'build.mjs')], { stdio: 'inherit' });
}

const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const figures = (rs: readonly FerryResult[]) => ({ wall: median(rs.map((r) => r.ms)), cpu: median(rs.map((r) => r.cpuMs)) });
/** The machine's load average (1, 5, 15 min): what to read each figure against on a shared machine. */
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

const c = await startCase();
try {
  const plan = await c.plan();
  say(`ferry start, median of ${RUNS} (node ${process.version}; one spawn each, timed to exit); load average ${load()}`);
  for (const [label, args] of [['ferry --help', ['--help']], ['ferry show <plan>', ['show', plan]], ['ferry run --help', ['run', '--help']]] as const) {
    const compiled: FerryResult[] = [];
    const tsx: FerryResult[] = [];
    // Interleaved, so a burst of load on the machine falls on both alike.
    for (let i = 0; i < RUNS; i++) {
      compiled.push(expectOk(await c.ferry([...args]), label));
      tsx.push(expectOk(await c.ferry([...args], { FERRY_TSX: '1' }), `${label} (tsx)`));
    }
    const [a, b] = [figures(compiled), figures(tsx)];
    say(`  ${label.padEnd(18)} compiled: wall ${s(a.wall)}, cpu ${s(a.cpu)}   tsx: wall ${s(b.wall)}, cpu ${s(b.cpu)}   compiled ÷ tsx: wall ${(a.wall / b.wall).toFixed(2)}, cpu ${(a.cpu / b.cpu).toFixed(2)}`);
  }
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, ['-e', '0']);
    bare.push(performance.now() - t0);
  }
  say(`  ${'node -e 0'.padEnd(18)} wall ${s(median(bare))} (the floor: Node's own start on this machine)`);
  say(`load average at the end ${load()}`);
} finally {
  await c.close();
}
