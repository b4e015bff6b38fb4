/**
 * The abuse suite: hostile programs against the real sandbox. For each, the sandbox contains
 * it, the run record says what happened in words, nothing is left behind, and the next
 * session still works. A few go through runMigration on the seed case to show the target
 * database is unchanged. Network attempts run only in Docker (network mode none: every
 * attempt fails inside the container, nothing leaves); the local driver, which has no
 * network isolation, runs the others that make sense for it.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { approvePlan } from '../../agents/planning/index.js';
import type { SandboxRun } from '../../src/core/artifacts/sandbox-run.js';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { describeToPlan, openConnections, type Connections } from '../../src/chain.js';
import { DEMO_DESCRIPTION } from '../../src/demo/seed-case.js';
import { runMigration } from '../../src/orchestrator/run-migration.js';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { DockerDriver, containerSpecFor } from '../../sandbox/docker-driver.js';
import { LocalDriver } from '../../sandbox/local-driver.js';
import { LABEL, currentOwner, ownerLabels, processStartTime } from '../../sandbox/owner.js';
import { defaultPolicy, type SandboxPolicy } from '../../sandbox/policy.js';
import type { BatchOutcome, SandboxDriver } from '../../sandbox/types.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { SYSCALL_IMAGE, ensureSyscallImage } from './abuse-image.js';
import { startWith } from './driver-suite.js';
import { bundleProgram, dockerStatus, ensureImage, removeBundles, rows, type Bundle } from './helpers.js';

const status = await dockerStatus();

interface Abuse {
  outcome: BatchOutcome;
  found: Record<string, unknown> | undefined;
  run: SandboxRun;
  logs: string[];
}

const bundles = new Map<string, Promise<Bundle>>();
function program(name: string, define: Record<string, string> = {}): Promise<Bundle> {
  const key = `${name} ${JSON.stringify(define)}`;
  let b = bundles.get(key);
  if (!b) bundles.set(key, (b = bundleProgram(name, define)));
  return b;
}

/** Runs one batch of one row through a hostile program and closes the session. */
async function abuse(driver: SandboxDriver, name: string, overrides: Partial<SandboxPolicy> = {}, define: Record<string, string> = {}): Promise<Abuse> {
  const logs: string[] = [];
  const { session } = await startWith(driver, await program(name, define), name.replace(/\W/g, '-'), { timeoutMs: 30_000, ...overrides }, (line) => logs.push(line));
  const outcome = await session.transform(1, rows('probe'));
  const run = await session.close();
  const found = outcome.status === 'ok' ? outcome.rows[0]?.r : undefined;
  return { outcome, found, run, logs };
}

/** The orchestrator keeps serving: a fresh session on the same driver transforms rows. */
async function nextSessionWorks(driver: SandboxDriver): Promise<void> {
  const { session } = await startWith(driver, await program('upper'), 'after-abuse');
  expect(await session.transform(1, rows('still here'))).toMatchObject({ status: 'ok', rows: [{ k: '1', r: { name: 'STILL HERE' } }] });
  expect((await session.close()).exitReason).toBe('ok');
}

function expectReason(a: Abuse, reason: SandboxRun['exitReason'], message: RegExp): void {
  expect(a.outcome).toMatchObject({ status: 'error', reason });
  expect(a.run.exitReason).toBe(reason);
  expect(a.run.message).toMatch(message);
}

afterAll(removeBundles);

/** The cases that hold for both drivers (the local one is weaker, but these it does contain). */
function commonCases(makeDriver: () => SandboxDriver, leftovers: (run: SandboxRun) => Promise<string[]>): void {
  it('1 GB printed to stdout ends the run as output_limit, with the log cut and marked', async () => {
    const driver = makeDriver();
    const a = await abuse(driver, 'abuse/stdout-flood', { maxLogBytes: 2 * 1024 * 1024, logTailBytes: 16 * 1024 });
    expectReason(a, 'output_limit', /wrote more than 2097152 bytes of log.*stopped/);
    expect(a.run.logTail.at(-1)).toBe('[ferry: log cut: the program wrote more than the limit of 2097152 bytes]');
    expect(a.run.logTail.slice(0, -1).every((l) => /^(\[ferry: \d+ earlier log lines.*\]|x+)$/.test(l))).toBe(true);
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('a program that ignores SIGTERM is killed with SIGKILL when its time is up', async () => {
    const driver = makeDriver();
    const a = await abuse(driver, 'abuse/ignore-term', { timeoutMs: 3_000, killGraceMs: 1_000 });
    expectReason(a, 'timeout', /did not finish within 3000 ms; it did not stop on SIGTERM and was killed with SIGKILL after 1000 ms/);
    // The signal reached the program (through the init in Docker) and it chose to ignore it.
    expect(a.logs).toContain('ignoring SIGTERM');
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('canary secrets in the orchestrator environment are nowhere the program can look', async () => {
    const driver = makeDriver();
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const saved = { token: process.env.FERRY_CANARY_TOKEN, pg: process.env.PGPASSWORD };
    process.env.FERRY_CANARY_TOKEN = canary;
    process.env.PGPASSWORD = canary;
    let a: Abuse;
    try {
      a = await abuse(driver, 'abuse/secrets');
    } finally {
      for (const [k, v] of [['FERRY_CANARY_TOKEN', saved.token], ['PGPASSWORD', saved.pg]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(a.run.exitReason).toBe('ok');
    const seen = a.found as Record<string, string>;
    // It did look: the program's own environment was read and holds only the stream's path.
    expect(JSON.parse(seen.env ?? '{}')).toHaveProperty('FERRY_STREAM');
    expect(JSON.stringify(seen)).not.toContain(canary);
    expect(a.logs.join('\n')).not.toContain(canary);
    expect(JSON.stringify(a.run)).not.toContain(canary);
    expect(seen.runSecrets).toMatch(/^<(ENOENT|ERR_ACCESS_DENIED)>$/);
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('writing to /, /etc, the bundle and the stream directory fails; no host path is mounted writable', async () => {
    const driver = makeDriver();
    const a = await abuse(driver, 'abuse/writes');
    expect(a.run.exitReason).toBe('ok');
    const { mounts, ...writes } = a.found ?? {};
    for (const [where, result] of Object.entries(writes)) {
      expect([where, result]).toEqual([where, expect.stringMatching(/^(EROFS|EACCES|ERR_ACCESS_DENIED)$/)]);
    }
    expect(Object.keys(writes)).toEqual(['root', 'etc', 'passwd', 'bundle', 'streamDir']);
    if (driver.kind === 'docker') {
      // The only host paths: the bundle and the stream directory, plus Docker's init and
      // /etc/hostname (with networking disabled it adds no hosts or resolv.conf), all read-only.
      expect(mounts).toEqual(['/etc/hostname ro', '/run/ferry ro', '/sandbox/bundle.cjs ro', '/sbin/docker-init ro']);
    } else {
      expect(mounts).toBeNull();
    }
    await nextSessionWorks(driver);
  });

  it.each([
    ['a "success" with no rows', 'empty', /key "1" sent in batch 1 was not answered/],
    ['"done" instead of the batch', 'done-early', /unexpected "done" frame while batch 1 was pending/],
  ])('forged output: %s is a protocol_error', async (_name, mode, message) => {
    const driver = makeDriver();
    const a = await abuse(driver, 'forge', {}, { __MODE__: JSON.stringify(mode) });
    expectReason(a, 'protocol_error', message);
    expect(a.run.rowsOut).toBe(0);
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('forged output: a frame after the end fails the run, naming the smuggled key', async () => {
    const driver = makeDriver();
    const a = await abuse(driver, 'forge', {}, { __MODE__: JSON.stringify('after-end') });
    // The batch itself was answered properly; what came after "done" is what fails the run.
    expect(a.outcome.status).toBe('ok');
    expect(a.run.exitReason).toBe('protocol_error');
    expect(a.run.message).toMatch(/unexpected "rows" frame after "done" \(key "smuggled"\)/);
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('forged output: log text shaped like a data frame stays log', async () => {
    const driver = makeDriver();
    const a = await abuse(driver, 'abuse/log-forge');
    expect(a.outcome).toEqual({ status: 'ok', rows: [{ k: '1', r: { name: 'PROBE' } }] });
    expect(a.run).toMatchObject({ exitReason: 'ok', rowsOut: 1 });
    expect(a.logs.filter((l) => l.includes('"smuggled"'))).toHaveLength(1);
    expect(a.logs).toContain('{"v":1,"t":"done"}');
    await nextSessionWorks(driver);
  });

  it('output past the stream byte cap ends the run as output_limit', async () => {
    const driver = makeDriver();
    const { session } = await startWith(driver, await program('upper'), 'output-cap', { maxOutputBytes: 8 * 1024 });
    const batch = (b: number) => Array.from({ length: 50 }, (_, i) => ({ k: `${b}-${i}`, r: { id: i, name: `role number ${i}` } }));
    const outcomes: BatchOutcome[] = [];
    for (let b = 1; b <= 10; b++) {
      const o = await session.transform(b, batch(b));
      outcomes.push(o);
      if (o.status === 'error') break;
    }
    // Some batches fit under the cap; the one that crosses it fails, and the run with it.
    expect(outcomes[0]?.status).toBe('ok');
    expect(outcomes.at(-1)).toMatchObject({ status: 'error', reason: 'output_limit' });
    const run = await session.close();
    expect(run.exitReason).toBe('output_limit');
    expect(run.message).toMatch(/sent more than 8192 bytes on the row stream/);
    expect(await leftovers(run)).toEqual([]);
    await nextSessionWorks(driver);
  });
}

describe.skipIf(!status.ok)('abuse suite, Docker', () => {
  const driver = new DockerDriver();
  const leftovers = (run: SandboxRun) => driver.leftovers(run.runId);

  beforeAll(async () => {
    await ensureImage();
  });

  commonCases(() => driver, leftovers);

  it('fork bomb: the pids limit refuses new processes', async () => {
    const a = await abuse(driver, 'abuse/fork-bomb');
    expect(a.run.exitReason).toBe('ok');
    expect(a.found).toMatchObject({ refused: 'EAGAIN', pidsMax: String(defaultPolicy.pidsLimit) });
    expect(a.found?.spawned).toBeLessThan(defaultPolicy.pidsLimit);
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('memory bomb: the kernel stops it at the memory limit, reported as oom', async () => {
    const a = await abuse(driver, 'oom-buffers');
    expectReason(a, 'oom', /ran out of memory \(limit 536870912 bytes/);
    expect(a.run.peakMemoryBytes).toBeGreaterThanOrEqual(defaultPolicy.memoryBytes * 0.9);
    // Swap equal to memory: no swap, so it could not grow past the limit.
    expect(a.run.policy).toMatchObject({ HostConfig: { Memory: defaultPolicy.memoryBytes, MemorySwap: defaultPolicy.memoryBytes } });
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('filling /tmp stops at the tmpfs size', async () => {
    const a = await abuse(driver, 'abuse/fill-tmp');
    expect(a.run.exitReason).toBe('ok');
    expect(a.found?.error).toBe('ENOSPC');
    expect(a.found?.written).toBeLessThanOrEqual(defaultPolicy.tmpfsSizeBytes);
    await nextSessionWorks(driver);
  });

  it('a file written to /tmp cannot be executed or loaded as native code', async () => {
    const a = await abuse(driver, 'abuse/exec-tmp');
    expect(a.run.exitReason).toBe('ok');
    expect(a.found).toMatchObject({ written: 'allowed', exec: 'EACCES', copied: 'allowed' });
    expect(a.found?.dlopen).toMatch(/^ERR_DLOPEN_FAILED: .*(failed to map segment|Operation not permitted)/);
    await nextSessionWorks(driver);
  });

  it('a busy loop past the timeout is stopped (SIGTERM through the init)', async () => {
    const a = await abuse(driver, 'busy', { timeoutMs: 3_000 });
    expectReason(a, 'timeout', /did not finish within 3000 ms; it stopped on SIGTERM/);
    expect(await leftovers(a.run)).toEqual([]);
    await nextSessionWorks(driver);
  });

  it('opening 100,000 files stops at the descriptor limit', async () => {
    const a = await abuse(driver, 'abuse/files');
    expect(a.run.exitReason).toBe('ok');
    expect(a.found?.error).toBe('EMFILE');
    expect(a.found?.opened).toBeLessThan(defaultPolicy.nofileLimit);
    await nextSessionWorks(driver);
  });

  it('every way out fails inside the container: database port, host sockets, DNS, metadata, public address', async () => {
    const port = Number(new URL(inject('pgAdminUrl')).port);
    const a = await abuse(driver, 'abuse/network', {}, { __DB_PORT__: String(port) });
    expect(a.run.exitReason).toBe('ok');
    expect(a.found).toEqual({
      // Only the container's own loopback, and no route anywhere: no packet can leave.
      interfaces: 'lo',
      routes: [],
      database: 'ECONNREFUSED',
      dockerSocket: 'ENOENT',
      runDockerSocket: 'ENOENT',
      postgresSocket: 'ENOENT',
      dns: expect.stringMatching(/^(EAI_AGAIN|ENOTFOUND)$/),
      metadata: 'ENETUNREACH',
      publicAddress: 'ENETUNREACH',
    });
    await nextSessionWorks(driver);
  });

  it('mount, unshare, chroot, setuid fail; ptrace reaches only the sandbox itself', async () => {
    // The syscall image adds perl, which can make raw system calls: as if the program had brought native code.
    await ensureSyscallImage();
    const a = await abuse(driver, 'abuse/privilege', { image: SYSCALL_IMAGE }, { __HOST_PID__: String(process.pid) });
    expect(a.run.exitReason).toBe('ok');
    expect(a.found).toMatchObject({ setuid: 'EPERM', setgid: 'EPERM', seteuid: 'EPERM', capEff: '0000000000000000', noNewPrivs: '1' });
    // errno 1 is EPERM: refused by the dropped capabilities and Docker's seccomp profile;
    // errno 3 is ESRCH: the orchestrator's pid names no process in the sandbox's pid namespace.
    expect(a.found?.syscalls).toBe('chroot=1,mount=1,ptraceHost=3,setuid=1,unshareMount=1,unshareNet=1,unshareUser=1');
    // The pid namespace holds the init, node and perl, all uid 1000: nothing else to trace or signal.
    const procs = a.found?.processes as string[];
    expect(procs.every((p) => /^(\/sbin\/docker-init|\/usr\/local\/bin\/node|\/usr\/bin\/perl) uid=1000$/.test(p))).toBe(true);
    await nextSessionWorks(driver);
  });

  it('nothing of one run is visible to the next', async () => {
    const first = await abuse(driver, 'abuse/persist');
    const second = await abuse(driver, 'abuse/persist');
    expect(first.found).toEqual({ earlier: 'ENOENT' });
    expect(second.found).toEqual({ earlier: 'ENOENT' });
    expect(second.run.containerId).not.toBe(first.run.containerId);
  });

  it('says so when Docker has no init binary for Init: true', async () => {
    const real = createDockerClient();
    const docker = {
      ...real,
      startContainer: async () => {
        throw new Error('(HTTP code 400) unexpected - failed to create shim: exec: "docker-init": executable file not found in $PATH');
      },
    };
    const broken = new DockerDriver({ docker, reapOnStart: false });
    // The daemon reports "N/A" for an init binary it could not run: available() says so up front.
    const noInit = new DockerDriver({ docker: { ...real, initBinary: async () => ({ path: 'docker-init', commit: 'N/A' }) }, reapOnStart: false });
    expect(await noInit.available()).toMatchObject({ ok: false, code: 'SANDBOX_INIT_MISSING', reason: expect.stringMatching(/no usable init binary \(docker-init\).*tini/) });
    const run = startWith(broken, await program('upper'), 'no-init');
    await expect(run).rejects.toMatchObject({ code: 'SANDBOX_INIT_MISSING', hint: expect.stringMatching(/apt-get install tini/) });
    // The container it created for the run was removed again.
    const mine = (await new DockerDriver({ reapOnStart: false }).containers()).filter((c) => c.runId?.includes('no-init'));
    expect(mine).toEqual([]);
  });

  it('removes the containers of an orchestrator that is gone, and only those', async () => {
    const docker = createDockerClient();
    const { image } = await ensureImage();
    // A process that has exited: its pid and start time name an orchestrator that crashed.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    expect(processStartTime(deadPid)).toBeNull();
    const me = currentOwner();
    const make = (run: string, owner: Record<string, string>) =>
      docker.createContainer(
        containerSpecFor(defaultPolicy, image, { bundle: '/nonexistent/bundle.cjs', socketDir: '/nonexistent/stream' }, {
          'ferry.test': 'sandbox',
          [LABEL.managed]: 'true',
          [LABEL.run]: run,
          ...owner,
        }),
      );
    const ownerOf = (pid: number, start: string) => ownerLabels({ ...me, pid, start });
    const orphan = await make('orphan-of-crash', ownerOf(deadPid, '12345'));
    const live = await make('live-run', ownerOf(me.pid, me.start));
    try {
      const fresh = new DockerDriver();
      const listed = await fresh.containers();
      expect(listed.find((c) => c.id === orphan)).toMatchObject({ runId: 'orphan-of-crash', owner: 'gone' });
      expect(listed.find((c) => c.id === live)).toMatchObject({ runId: 'live-run', owner: 'self' });
      // Starting a run reaps first.
      const { session } = await startWith(fresh, await program('upper'), 'after-reap');
      expect((await session.close()).exitReason).toBe('ok');
      const left = await docker.listContainerIds({ 'ferry.test': 'sandbox' });
      expect(left).not.toContain(orphan);
      expect(left).toContain(live);
    } finally {
      await docker.removeContainer(orphan);
      await docker.removeContainer(live);
    }
  });

  describe('through runMigration on the seed case: the target is unchanged', () => {
    let seed: SeedCase;
    let conn: Connections;
    let analysis: SchemaAnalysis;
    let plan: MigrationPlan;

    beforeAll(async () => {
      seed = await createSeedCase();
      conn = await openConnections(seed.legacy.url, seed.target.url);
      const made = await describeToPlan({ description: DEMO_DESCRIPTION, conn });
      analysis = made.analysis;
      plan = approvePlan(made.plan, 'abuse');
    });
    afterAll(async () => {
      await conn?.close();
      await seed?.drop();
    });

    const counts = async () => {
      const q = async (sql: string) => Number((await seed.sql('target', sql)).rows[0]?.n);
      // The control tables appear with the first run; before it there are no mappings at all.
      const hasMappings = (await seed.sql('target', `SELECT to_regclass('ferry_control.migration_mappings') IS NOT NULL AS ok`)).rows[0]?.ok === true;
      return { roles: await q('SELECT count(*) AS n FROM technician_roles'), mappings: hasMappings ? await q('SELECT count(*) AS n FROM ferry_control.migration_mappings') : 0 };
    };

    it.each([
      ['a row for a key that was not sent', 'forge', { __MODE__: JSON.stringify('extra') }, {}, 'SANDBOX_PROTOCOL_ERROR', /key "smuggled" was not sent/],
      ['the same key twice', 'forge', { __MODE__: JSON.stringify('duplicate') }, {}, 'SANDBOX_PROTOCOL_ERROR', /answered twice/],
      ['a memory bomb', 'oom-buffers', {}, {}, 'SANDBOX_OOM', /ran out of memory/],
      ['1 GB on stdout', 'abuse/stdout-flood', {}, { maxLogBytes: 1024 * 1024 }, 'SANDBOX_OUTPUT_LIMIT', /wrote more than 1048576 bytes of log/],
    ] as const)('%s', async (_name, name, define, overrides, code, message) => {
      const before = await counts();
      const bundle = await program(name, define);
      const run = await runMigration({ plan, analysis, bundle, source: conn.source, target: conn.target, driver, policy: { ...defaultPolicy, ...overrides } });
      expect(run.status).toBe('failed');
      if (run.status !== 'failed') return;
      expect({ code: run.errorCode, error: run.error }).toMatchObject({ code });
      expect(run.error).toMatch(message);
      expect(run.inserted).toBe(0);
      expect(await counts()).toEqual(before);
      const control = await seed.sql('target', 'SELECT status, rows_inserted FROM ferry_control.migration_control WHERE id = $1', [run.migrationId]);
      expect(control.rows[0]).toEqual({ status: 'failed', rows_inserted: 0 });
      expect(await driver.leftovers()).not.toContain(run.sandbox?.containerId);
    });
  });
});

describe('abuse suite, local driver (weaker: no network isolation, so no network cases)', () => {
  const driver = new LocalDriver();
  commonCases(() => driver, async () => []);
});
