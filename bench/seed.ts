/**
 * `npm run bench:seed`: the case study end to end as a person runs it: `ferry run` of an
 * approved plan (31 rows, the Docker sandbox, the image already built), median of 5 spawns,
 * each rolled back after (`ferry rollback`, not timed) so every run moves the same rows. One
 * run before the five warms the image's page cache and the run store; it is not counted.
 * Prints wall and CPU time of the ferry process, the whole machine's CPU over each run (ferry, the
 * PostgreSQL server, the rest: Docker and the sandbox) next to what a bare container's life and an
 * empty Node process cost here and now, the load average, and the phases `ferry run` logs
 * (FERRY_LOG_LEVEL=info, src/cli/run-phases.ts): wall, CPU and queries per phase, the steps inside, and
 * the median run's timeline. Uses dist/ (built first when stale). Prints figures; asserts nothing.
 * `-- --cold`: the same with FERRY_SANDBOX_POOL=0 (no container started early: the reference
 * for the overlap of the container's start with the run's other start-up work).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { distIsFresh } from '../bin/dist-state.mjs';
import { BIN, expectOk, median, say, startCase, type FerryResult } from './case-env.js';
import { childCpuSeconds, machineBusySeconds, serverCpu } from './proc-cpu.js';
import { appliedPolicy, DockerDriver } from '../sandbox/docker-driver.js';
import { defaultPolicy, dockerFields } from '../sandbox/policy.js';

const RUNS = 5;
const COLD = process.argv.includes('--cold');
const root = join(BIN, '..', '..');
if (!distIsFresh(root)) {
  say('dist/ is missing or older than the sources: npm run build');
  execFileSync(process.execPath, [join(root, 'bin', 'build.mjs')], { stdio: 'inherit' });
}

interface PhaseLog {
  phasesMs: Record<string, number>;
  cpuMs?: Record<string, number>;
  roundTrips?: Record<string, Record<string, number>>;
  stepsMs?: Record<string, number>;
  stepsAt?: Record<string, number>;
}

/**
 * The CPU the whole machine used while each run went, split into ferry's process, the PostgreSQL
 * server and the rest (Docker's daemon, containerd, the container's shim and runc, the sandbox's
 * program, the kernel, anything else running), against what the machine's CPUs can give in the
 * run's wall time: a run whose CPU comes near cores × wall waits for CPU, not for its steps.
 */
function cpuLine(runs: FerryResult[], machine: Array<{ busy: number | null; server: number | null }>, fixed: FixedCosts): void {
  const busy = machine.map((m) => m.busy);
  const serverS = machine.map((m) => m.server);
  if (busy.some((b) => b === null) || serverS.some((b) => b === null)) {
    say('  machine CPU: not measured (no /proc)');
    return;
  }
  const cores = availableParallelism();
  const total = median(busy as number[]) * 1000;
  const pgMs = median(serverS as number[]) * 1000;
  const ferryMs = median(runs.map((r) => r.cpuMs));
  const rest = median(runs.map((r, i) => (busy[i] as number) * 1000 - r.cpuMs - (serverS[i] as number) * 1000));
  const wall = median(runs.map((r) => r.ms));
  say(`  machine CPU during the run (median each): ${Math.round(total)} ms in all = ${(total / cores).toFixed(0)} ms on each of ${cores} CPUs, against ${Math.round(wall)} ms of wall (${((total / (cores * wall)) * 100).toFixed(0)}% of what they could give)`);
  say(`    ferry's process ${Math.round(ferryMs)} ms · PostgreSQL server ${Math.round(pgMs)} ms · the rest ${Math.round(rest)} ms (Docker's daemon, containerd, the container's shim and runc, the sandbox program, the kernel, anything else)`);
  const container = fixed.container === null ? 'not measured' : `${Math.round(fixed.container.cpuMs)} ms of machine CPU, ${Math.round(fixed.container.wallMs)} ms wall`;
  say(`    references measured now, median of ${RUNS}: one bare container's life with the sandbox's settings (create, start, wait, remove; the init's --version, no Node) ${container}; \`node -e 0\` ${Math.round(fixed.node.cpuMs)} ms CPU, ${Math.round(fixed.node.wallMs)} ms wall`);
}

interface FixedCosts {
  container: { cpuMs: number; wallMs: number } | null;
  node: { cpuMs: number; wallMs: number };
}

/**
 * What every run pays before any of ferry's own work, measured here and now: a container's
 * life through the Docker API with the sandbox's policy (its HostConfig, binds included, its
 * program replaced by the init binary's --version), and a Node process that does nothing. The CPU is the whole
 * machine's over each (Docker's daemons, shim and runc) or the child's own (Node).
 */
async function fixedCosts(): Promise<FixedCosts> {
  const node: Array<{ cpuMs: number; wallMs: number }> = [];
  for (let i = 0; i < RUNS; i++) {
    const before = childCpuSeconds();
    const t0 = performance.now();
    execFileSync(process.execPath, ['-e', '0']);
    const wallMs = performance.now() - t0;
    const after = childCpuSeconds();
    node.push({ cpuMs: before === null || after === null ? NaN : (after - before) * 1000, wallMs });
  }
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-bare-'));
  const container: Array<{ cpuMs: number; wallMs: number }> = [];
  try {
    await writeFile(join(dir, 'bundle.cjs'), '');
    await mkdir(join(dir, 'stream'));
    const driver = new DockerDriver({ reapOnStart: false });
    const policy = appliedPolicy(defaultPolicy);
    const { image } = await driver.image(policy);
    const { Ferry: _ferry, ...fields } = dockerFields(policy, { bundle: join(dir, 'bundle.cjs'), streamDir: join(dir, 'stream') });
    for (let i = 0; i < RUNS; i++) {
      const busyBefore = machineBusySeconds();
      const t0 = performance.now();
      // The image has no /bin/true: the program is the init Docker mounts (tini), asked its version.
      const id = await driver.client.createContainer({ ...fields, Entrypoint: ['/sbin/docker-init'], Cmd: ['--version'], Image: image, Labels: { 'ferry.bench': 'bare' }, AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false });
      try {
        await driver.client.startContainer(id);
        const { statusCode } = await driver.client.waitContainer(id);
        if (statusCode !== 0) throw new Error(`the bare container exited ${statusCode}`);
      } finally {
        await driver.client.removeContainer(id);
      }
      const wallMs = performance.now() - t0;
      const busyAfter = machineBusySeconds();
      container.push({ cpuMs: busyBefore === null || busyAfter === null ? NaN : (busyAfter - busyBefore) * 1000, wallMs });
    }
  } catch (e) {
    say(`  (the bare container reference could not run: ${(e as Error).message})`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const med = (xs: Array<{ cpuMs: number; wallMs: number }>) => ({ cpuMs: median(xs.map((x) => x.cpuMs)), wallMs: median(xs.map((x) => x.wallMs)) });
  return { container: container.length === RUNS ? med(container) : null, node: med(node) };
}

/** The run's "ferry run phases" log line. */
function phasesOf(r: FerryResult): PhaseLog {
  for (const line of r.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as PhaseLog & { msg?: string };
    if (entry.msg === 'ferry run phases' && entry.phasesMs) return entry;
  }
  throw new Error(`ferry run logged no phases:\n${r.stderr}`);
}

const c = await startCase();
try {
  const plan = await c.plan();
  expectOk(await c.ferry(['approve', plan]), 'ferry approve');
  /** The timed runs: as a person runs ferry (its default log level: no pino, no step records). */
  const runs: FerryResult[] = [];
  /** Runs at FERRY_LOG_LEVEL=info, each right after a timed one: their phase log, for where the time goes. */
  const logged: FerryResult[] = [];
  const server = await serverCpu(c.pg);
  /** Per counted run: the machine's busy CPU over it, and the PostgreSQL server's part (seconds; null without /proc). */
  const machine: Array<{ busy: number | null; server: number | null }> = [];
  const runOnce = async (extraEnv: NodeJS.ProcessEnv): Promise<FerryResult> => {
    const r = expectOk(await c.ferry(['run', plan], { ...extraEnv, ...(COLD ? { FERRY_SANDBOX_POOL: '0' } : {}) }), 'ferry run');
    if (!/31 inserted/.test(r.stdout)) throw new Error(`expected 31 rows inserted:\n${r.stdout}`);
    const id = /migration (\d+) completed/.exec(r.stdout)?.[1];
    expectOk(await c.ferry(['rollback', id ?? '']), 'ferry rollback');
    return r;
  };
  for (let i = 0; i <= RUNS; i++) {
    const serverBefore = await server.seconds();
    const busyBefore = machineBusySeconds();
    const r = await runOnce({});
    const busyAfter = machineBusySeconds();
    const serverAfter = await server.seconds();
    const info = await runOnce({ FERRY_LOG_LEVEL: 'info' });
    if (i > 0) {
      runs.push(r);
      logged.push(info);
      // The rollback after the run is outside these figures: they stop at the run's exit.
      machine.push({ busy: busyBefore === null || busyAfter === null ? null : busyAfter - busyBefore, server: serverBefore === null || serverAfter === null ? null : serverAfter - serverBefore });
    }
  }
  const fixed = await fixedCosts();
  const logs = logged.map(phasesOf);
  const phases = logs.map((l) => l.phasesMs);
  const ms = (n: number) => `${Math.round(n)} ms`;
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  say(`ferry run of the case study (31 rows, Docker, warm image${COLD ? ', no container started early (--cold)' : ', its container started at the beginning'}), median of ${RUNS}:`);
  say(`  wall ${ms(median(runs.map((r) => r.ms)))}   cpu (ferry process) ${ms(median(runs.map((r) => r.cpuMs)))}`);
  say(`  load average (1, 5, 15 min) at the end: ${load}`);
  cpuLine(runs, machine, fixed);
  say(`  the phases below come from ${RUNS} more runs, each right after a timed one, at FERRY_LOG_LEVEL=info (pino loaded, every step recorded): wall ${ms(median(logged.map((r) => r.ms)))}, cpu ${ms(median(logged.map((r) => r.cpuMs)))}`);
  say('  phases (median each; they need not add up to the median total): wall, ferry CPU, queries per connection');
  for (const name of Object.keys(phases[0]!)) {
    const cpu = median(logs.map((l) => l.cpuMs?.[name] ?? 0));
    const trips = Object.entries(logs[0]!.roundTrips?.[name] ?? {}).map(([c, n]) => `${c} ${n}`).join(', ');
    say(`    ${name.padEnd(20)} ${ms(median(phases.map((p) => p[name] ?? 0))).padStart(8)}   cpu ${ms(cpu).padStart(7)}${trips ? `   queries: ${trips}` : ''}`);
  }
  say('  steps inside the phases (median each, from the step or phase before):');
  for (const name of Object.keys(logs[0]!.stepsMs ?? {})) say(`    ${name.padEnd(40)} ${ms(median(logs.map((l) => l.stepsMs?.[name] ?? 0))).padStart(8)}`);
  // One run's timeline (the median one by wall time): where the container's start, the program and the run's own steps overlap.
  const byWall = logged.map((r, i) => [r.ms, i] as const).sort((a, b) => a[0] - b[0]);
  const middle = byWall[Math.floor(byWall.length / 2)]![1];
  say(`  timeline of the median logged run (${ms(logged[middle]!.ms)} wall; ms since its process started; container.* and program.* go on beside the run's steps):`);
  for (const [name, at] of Object.entries(logs[middle]!.stepsAt ?? {}).sort((a, b) => a[1] - b[1])) say(`    ${ms(at).padStart(8)}  ${name}`);
} finally {
  await c.close();
}
