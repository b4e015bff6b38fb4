import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { DockerDriver, appliedOptions, containerSpecFor } from '../../sandbox/docker-driver.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { SandboxPool, type PoolLogger } from '../../sandbox/pool.js';
import { WARM_IDLE_EXIT, warmMismatches, warmSpec } from '../../sandbox/warm.js';
import { driverSuite, startWith } from './driver-suite.js';
import { bundleProgram, dockerStatus, ensureImage, policy, removeBundles, rows } from './helpers.js';

const status = await dockerStatus();
const docker = createDockerClient();

/** Warnings the pool logged, kept so a test can see what it said. */
function recordingLogger(): PoolLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (fields, message) => lines.push(`${message} ${JSON.stringify(fields)}`) };
}

/** Whether the daemon still knows a container. */
async function exists(id: string): Promise<boolean> {
  return (await docker.listContainers({ 'ferry.managed': 'true' })).some((c) => c.id === id);
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('warm spec (no Docker needed)', () => {
  it('is the cold spec but for the two mounts (whole, empty directories) and the waiting command', () => {
    const labels = { 'ferry.run': 'r1' };
    const cold = containerSpecFor(defaultPolicy, 'img', { bundle: '/r/bundle.cjs', socketDir: '/r/stream' }, labels);
    const warm = warmSpec(defaultPolicy, 'img', { programDir: '/w/program', socketDir: '/w/stream' }, labels, 60_000);
    const { Cmd: coldCmd, HostConfig: { Binds: coldBinds, ...coldHost }, ...coldRest } = cold;
    const { Cmd: warmCmd, HostConfig: { Binds: warmBinds, ...warmHost }, ...warmRest } = warm;
    expect(warmRest).toEqual(coldRest);
    expect(warmHost).toEqual(coldHost);
    expect(warm.Env).toEqual(['FERRY_STREAM=/run/ferry/stream.sock']);
    expect(warmBinds).toEqual(['/w/program:/sandbox:ro', '/w/stream:/run/ferry:ro']);
    expect(coldBinds).toEqual(['/r/bundle.cjs:/sandbox/bundle.cjs:ro', '/r/stream:/run/ferry:ro']);
    expect(warmCmd[0]).toBe(coldCmd[0]);
    expect(warmCmd[1]).toBe('-e');
    expect(warmCmd[2]).toContain('process.exit(75)');
    expect(warmCmd[2]).toContain("require(\"/sandbox/bundle.cjs\")");
  });

  it('finds a limit loosened after creation, a token in the environment and another image', () => {
    const spec = warmSpec(defaultPolicy, 'img', { programDir: '/w/program', socketDir: '/w/stream' }, {}, 60_000);
    const fine = { running: true, imageId: 'sha256:a', user: spec.User, env: [...spec.Env, 'PATH=/bin'], cmd: spec.Cmd, networkDisabled: true, hostConfig: { ...spec.HostConfig } as Record<string, unknown> };
    expect(warmMismatches(spec, 'sha256:a', fine)).toEqual([]);
    const loosened = { ...fine, hostConfig: { ...fine.hostConfig, Memory: 2 * 1024 ** 3, PidsLimit: 0 } };
    expect(warmMismatches(spec, 'sha256:a', loosened)).toEqual([
      `HostConfig.Memory is ${2 * 1024 ** 3}, not ${512 * 1024 * 1024}`,
      'HostConfig.PidsLimit is 0, not 64',
    ]);
    expect(warmMismatches(spec, 'sha256:b', { ...fine, env: [...fine.env, 'FERRY_STREAM_TOKEN=x'], networkDisabled: false, running: false })).toEqual([
      'it is not running',
      'image sha256:a, not sha256:b',
      'its network is not disabled',
      'its environment holds a stream token',
    ]);
  });
});

describe('FERRY_SANDBOX_POOL and FERRY_SANDBOX_POOL_IDLE_MS in the config', () => {
  it('default to one warm container and ten minutes; take whole numbers in range', () => {
    expect(loadConfig({}, '/srv').sandboxPool).toEqual({ size: 1, idleTimeoutMs: 600_000 });
    expect(loadConfig({ FERRY_SANDBOX_POOL: '4', FERRY_SANDBOX_POOL_IDLE_MS: '90000' }, '/srv').sandboxPool).toEqual({ size: 4, idleTimeoutMs: 90_000 });
    expect(loadConfig({ FERRY_SANDBOX_POOL: '0' }, '/srv').sandboxPool.size).toBe(0);
  });

  it('refuse anything else, saying what was wrong and what to write', () => {
    for (const bad of ['-1', '2.5', 'four', '33']) {
      expect(() => loadConfig({ FERRY_SANDBOX_POOL: bad }, '/srv')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: `FERRY_SANDBOX_POOL must be a whole number from 0 to 32, not ${JSON.stringify(bad)}`, hint: expect.stringContaining('FERRY_SANDBOX_POOL=4') }));
    }
    expect(() => loadConfig({ FERRY_SANDBOX_POOL_IDLE_MS: '10' }, '/srv')).toThrow(/FERRY_SANDBOX_POOL_IDLE_MS must be a whole number from 1000/);
  });
});

describe.skipIf(!status.ok)('warm sandbox pool, on real Docker', () => {
  const driver = new DockerDriver();
  const logger = recordingLogger();
  const pool = new SandboxPool(driver, { size: 2, policy: policy(), labels: { 'ferry.test': 'pool' }, logger });

  beforeAll(async () => {
    await ensureImage();
    pool.fill();
    await pool.settled();
  });
  afterAll(async () => {
    await pool.close();
    await removeBundles();
  });

  // The whole driver suite on the pool: a warm container behaves as a cold one in every case.
  driverSuite(() => pool, {
    leftovers: async (runId) => {
      const served = pool.served.get(runId);
      const cold = await driver.leftovers(runId);
      return served !== undefined && (await exists(served)) ? [...cold, served] : cold;
    },
    oomProgram: 'oom-buffers',
  });

  it('served the suite from warm containers (cold only for runs with another memory limit)', () => {
    const s = pool.stats();
    expect(s.warm).toBeGreaterThanOrEqual(7);
    expect(s.cold).toBeLessThanOrEqual(2);
    expect(logger.lines).toEqual([]);
  });

  it('gives two runs two different warm containers, each serving one run and removed after; the pool refills', async () => {
    await pool.settled();
    const before = pool.stats();
    expect(before.ready).toBe(2);
    const bundle = await bundleProgram('upper');
    const a = await startWith(pool, bundle, 'two-a');
    const b = await startWith(pool, bundle, 'two-b');
    const ids = [pool.served.get(a.id), pool.served.get(b.id)];
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBeDefined();
    expect(ids[0]).not.toBe(ids[1]);
    expect(pool.stats().warm).toBe(before.warm + 2);
    for (const { session } of [a, b]) expect(await session.transform(1, rows('x', 'y'))).toMatchObject({ status: 'ok', rows: [{ k: '1', r: { name: 'X' } }, { k: '2', r: { name: 'Y' } }] });
    const records = [await a.session.close(), await b.session.close()];
    expect(records.map((r) => r.containerId)).toEqual(ids);
    expect(records.map((r) => r.exitReason)).toEqual(['ok', 'ok']);
    expect(records[0]!.policy).toMatchObject({ NetworkDisabled: true, HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, Binds: [expect.stringMatching(/:\/sandbox:ro$/), expect.stringMatching(/:\/run\/ferry:ro$/)] } });
    for (const id of ids) expect(await exists(id!)).toBe(false);
    // Refilled in the background with new containers: none is ever handed out twice.
    await pool.settled();
    expect(pool.stats().ready).toBe(2);
    const c = await startWith(pool, bundle, 'two-c');
    expect(ids).not.toContain(pool.served.get(c.id));
    expect((await c.session.close()).exitReason).toBe('ok');
  });

  it('confines a warm container as a cold one: uid 1000, read-only root, no network, no token left in env or on disk', async () => {
    await pool.settled();
    const { session, id } = await startWith(pool, await bundleProgram('probe'), 'warm-probe');
    const container = pool.served.get(id)!;
    const inspected = await docker.inspectConfig(container);
    const expected = containerSpecFor(appliedOptions({ runId: id, bundle: { path: '', sha256: '' }, policy: policy() }).policy, 'img', { bundle: '/b', socketDir: '/s' }, {});
    const { Binds: _b, ...limits } = expected.HostConfig;
    expect(inspected.hostConfig).toMatchObject(limits);
    expect(inspected.networkDisabled).toBe(true);
    const outcome = await session.transform(1, rows('probe'));
    expect(outcome.status).toBe('ok');
    if (outcome.status !== 'ok') return;
    const found = outcome.rows[0]!.r;
    expect(found).toMatchObject({ uid: 1000, gid: 1000, writeRoot: 'EROFS', writeTmp: 'allowed' });
    const env = found.env as string[];
    expect(env).toContain('FERRY_STREAM');
    expect(env).not.toContain('FERRY_STREAM_TOKEN');
    expect(env.filter((k) => !['FERRY_STREAM', 'PATH', 'HOSTNAME', 'HOME', 'NODE_ENV', 'NODE_VERSION', 'YARN_VERSION'].includes(k))).toEqual([]);
    // The token file went once the program said ready.
    const dir = (inspected.hostConfig.Binds as string[])[1]!.split(':')[0]!;
    await expect(access(join(dir, 'token'))).rejects.toThrow();
    expect((await session.close()).exitReason).toBe('ok');
  });

  it('has no network in a warm container either', async () => {
    const { session, id } = await startWith(pool, await bundleProgram('network', { __HOST_PORT__: '5432' }), 'warm-network');
    expect(pool.served.get(id)).toBeDefined();
    const outcome = await session.transform(1, rows('probe'));
    expect(outcome).toMatchObject({ status: 'ok', rows: [{ r: { interfaces: 'lo', connect: 'ECONNREFUSED' } }] });
    expect((await session.close()).exitReason).toBe('ok');
  });

  it('removes a warm container whose limits were loosened after creation and starts the run cold', async () => {
    await pool.settled();
    const ready = (await driver.containers()).filter((c) => c.labels['ferry.test'] === 'pool' && c.owner === 'self' && c.state === 'running' && ![...pool.served.values()].includes(c.id));
    expect(ready).toHaveLength(2);
    // What a person with Docker access could do to a container waiting in the pool.
    for (const c of ready) await new Dockerode().getContainer(c.id).update({ Memory: 1024 ** 3, MemorySwap: 1024 ** 3, PidsLimit: 4096 });
    const cold = pool.stats().cold;
    const { session, id } = await startWith(pool, await bundleProgram('upper'), 'loosened');
    expect(pool.served.has(id)).toBe(false);
    expect(pool.stats().cold).toBe(cold + 1);
    expect(logger.lines.at(-1)).toContain('no longer matches the policy');
    expect(logger.lines.at(-1)).toContain('HostConfig.Memory is 1073741824, not 536870912');
    expect((await session.close()).exitReason).toBe('ok');
    logger.lines.splice(0);
    // The other loosened one goes the same way; then only fresh containers are handed out.
    const second = await startWith(pool, await bundleProgram('upper'), 'loosened-2');
    expect(pool.served.has(second.id)).toBe(false);
    expect((await second.session.close()).exitReason).toBe('ok');
    for (const c of ready) expect(await exists(c.id)).toBe(false);
    logger.lines.splice(0);
  });
});

describe.skipIf(!status.ok)('a pool for known runs (refill: false, as a CLI run makes it)', () => {
  it('makes its containers once: the one a run takes is not replaced, and closing it leaves none', async () => {
    const pool = new SandboxPool(new DockerDriver(), { size: 1, policy: policy(), refill: false, labels: { 'ferry.test': 'pool-once' }, logger: recordingLogger() });
    try {
      pool.fill();
      await pool.settled();
      expect(pool.stats()).toMatchObject({ created: 1, ready: 1, starting: 0 });
      const { session, id } = await startWith(pool, await bundleProgram('upper'), 'once');
      expect(pool.served.has(id)).toBe(true);
      expect(await session.transform(1, rows('x'))).toMatchObject({ status: 'ok', rows: [{ k: '1', r: { name: 'X' } }] });
      // A refilling pool would be making a replacement now.
      expect(pool.stats()).toMatchObject({ created: 1, ready: 0, starting: 0, warm: 1 });
      expect((await session.close()).exitReason).toBe('ok');
      pool.fill();
      await pool.settled();
      expect(pool.stats()).toMatchObject({ created: 1, ready: 0, starting: 0 });
      // A second run on it starts cold, as when the pool is empty.
      const second = await startWith(pool, await bundleProgram('upper'), 'once-2');
      expect(pool.served.has(second.id)).toBe(false);
      expect(pool.stats()).toMatchObject({ created: 1, cold: 1 });
      expect((await second.session.close()).exitReason).toBe('ok');
    } finally {
      await pool.close();
    }
    expect((await new DockerDriver().containers()).filter((c) => c.labels['ferry.test'] === 'pool-once')).toEqual([]);
  });
});

describe.skipIf(!status.ok)('warm containers nobody claims', () => {
  it('exit on their own after the idle timeout, and the pool replaces them', async () => {
    const pool = new SandboxPool(new DockerDriver(), { size: 1, policy: policy(), idleTimeoutMs: 1_500, labels: { 'ferry.test': 'pool-idle' }, logger: recordingLogger() });
    try {
      pool.fill();
      await pool.settled();
      const [first] = (await new DockerDriver().containers()).filter((c) => c.labels['ferry.test'] === 'pool-idle' && c.owner === 'self');
      expect(first).toBeDefined();
      expect((await docker.waitContainer(first!.id)).statusCode).toBe(WARM_IDLE_EXIT);
      await until('the idle container removed and replaced', async () => pool.stats().created >= 2 && !(await exists(first!.id)));
      expect(pool.stats().discarded).toBeGreaterThanOrEqual(1);
    } finally {
      await pool.close();
    }
  });

  it('of a ferry that was killed are reaped by the next one, with their directory', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'pool-child.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const said = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString()));
      child.once('exit', (code) => reject(new Error(`the pool child exited with ${code}`)));
    });
    expect(JSON.parse(said)).toMatchObject({ created: 1, ready: 1 });
    const orphans = (await new DockerDriver().containers()).filter((c) => c.labels['ferry.test'] === 'pool-orphan' && c.labels['ferry.owner.pid'] === String(child.pid));
    expect(orphans).toHaveLength(1);
    expect(orphans[0]).toMatchObject({ owner: 'alive', state: 'running' });
    const dir = orphans[0]!.labels['ferry.pool.dir']!;
    await access(dir);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The next ferry's driver reaps before its first container.
    const next = new DockerDriver();
    await next.reapOnce();
    expect(await exists(orphans[0]!.id)).toBe(false);
    await expect(access(dir)).rejects.toThrow();
  });
});
