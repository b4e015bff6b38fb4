import { inject, describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { DockerDriver, containerSpecFor } from '../../sandbox/docker-driver.js';
import { chooseDriver } from '../../sandbox/index.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { driverSuite, startWith } from './driver-suite.js';
import { bundleProgram, dockerStatus, ensureImage, removeBundles, rows } from './helpers.js';

const status = await dockerStatus();

describe.skipIf(!status.ok)('docker sandbox driver', () => {
  const driver = new DockerDriver();

  beforeAll(async () => {
    await ensureImage();
  });
  afterAll(removeBundles);

  it('says the daemon answers and which image it uses', async () => {
    const a = await driver.available();
    expect(a.ok).toBe(true);
    if (a.ok) expect(a.detail).toMatch(/image (node:18-alpine|ferry-sandbox:node18)/);
  });

  it('builds the container from the policy, with nothing of the host in its env', () => {
    const spec = containerSpecFor(defaultPolicy, 'img', { bundle: '/r/bundle.cjs', socketDir: '/r/stream' }, { 'ferry.run': 'r1' });
    expect(spec.Env).toEqual(['FERRY_STREAM=/run/ferry/stream.sock']);
    expect(spec.User).toBe('1000:1000');
    expect(spec.HostConfig).toMatchObject({
      Memory: 512 * 1024 * 1024,
      MemorySwap: 512 * 1024 * 1024,
      NanoCpus: 1e9,
      PidsLimit: 64,
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
      Init: true,
      ReadonlyRootfs: true,
      NetworkMode: 'none',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Tmpfs: { '/tmp': `rw,noexec,nosuid,nodev,size=${16 * 1024 * 1024}` },
      ShmSize: 1024 * 1024,
      Binds: ['/r/bundle.cjs:/sandbox/bundle.cjs:ro', '/r/stream:/run/ferry:ro'],
    });
  });

  driverSuite(() => driver, { leftovers: (id) => driver.leftovers(id), oomProgram: 'oom-buffers' });

  it('has no network: the host loopback and name resolution are out of reach', async () => {
    // The embedded PostgreSQL of the test run listens on the host's 127.0.0.1.
    const port = Number(new URL(inject('pgAdminUrl')).port);
    expect(port).toBeGreaterThan(0);
    const bundle = await bundleProgram('network', { __HOST_PORT__: String(port) });
    const { session, id } = await startWith(driver, bundle, 'network');
    const outcome = await session.transform(1, rows('probe'));
    expect(outcome.status).toBe('ok');
    if (outcome.status !== 'ok') return;
    const found = outcome.rows[0]?.r;
    expect(found?.interfaces).toBe('lo');
    expect(found?.connect).toBe('ECONNREFUSED');
    expect(found?.lookup).toMatch(/^(EAI_AGAIN|ENOTFOUND|ECONNREFUSED)$/);
    const run = await session.close();
    expect(run.exitReason).toBe('ok');
    expect(run.policy).toMatchObject({ NetworkDisabled: true, HostConfig: { NetworkMode: 'none', Init: true } });
    expect(await driver.leftovers(id)).toEqual([]);
  });

  it('reports a container killed from outside as killed', async () => {
    const docker = createDockerClient();
    const { session, id } = await startWith(driver, await bundleProgram('busy'), 'killed');
    const pending = session.transform(1, rows('loop'));
    const [container] = await driver.leftovers(id);
    expect(container).toBeDefined();
    await docker.killContainer(container as string);
    const outcome = await pending;
    expect(outcome).toMatchObject({ status: 'error', reason: 'killed' });
    const run = await session.close();
    expect(run).toMatchObject({ exitReason: 'killed', exitCode: 137 });
    expect(await driver.leftovers(id)).toEqual([]);
  });

  it('reports a V8 heap overflow as oom too', async () => {
    const memory = 96 * 1024 * 1024;
    const { session } = await startWith(driver, await bundleProgram('oom-heap'), 'oom-heap', { memoryBytes: memory, memorySwapBytes: memory });
    expect(await session.transform(1, rows('grow'))).toMatchObject({ status: 'error', reason: 'oom' });
    const run = await session.close();
    expect(run.exitReason).toBe('oom');
    expect(run.message).toMatch(/out of memory/);
  });

  it('confines the program: uid 1000, read-only root, writable /tmp, no host env', async () => {
    const { session } = await startWith(driver, await bundleProgram('probe'), 'probe');
    const outcome = await session.transform(1, rows('probe'));
    expect(outcome.status).toBe('ok');
    if (outcome.status !== 'ok') return;
    const found = outcome.rows[0]?.r;
    expect(found).toMatchObject({ uid: 1000, gid: 1000, writeRoot: 'EROFS', writeTmp: 'allowed' });
    // Only the image's own variables and the stream; nothing of the host.
    const env = found?.env as string[];
    expect(env).toContain('FERRY_STREAM');
    expect(env.filter((k) => !['FERRY_STREAM', 'PATH', 'HOSTNAME', 'HOME', 'NODE_ENV', 'NODE_VERSION', 'YARN_VERSION'].includes(k))).toEqual([]);
    expect((await session.close()).exitReason).toBe('ok');
  });

  it('is the driver chosen when the daemon answers', async () => {
    const choice = await chooseDriver();
    expect(choice.driver.kind).toBe('docker');
    expect(choice.weaker).toBe(false);
  });

  it('labels its containers with their orchestrator and leaves none behind', async () => {
    // Other test files run beside this one on the same daemon: only this process's containers count.
    const mine = (await driver.containers()).filter((c) => c.labels['ferry.test'] === 'sandbox' && c.owner === 'self');
    expect(mine).toEqual([]);
    const { session, id } = await startWith(driver, await bundleProgram('upper'), 'labels');
    const [running] = (await driver.containers()).filter((c) => c.runId === id);
    expect(running).toMatchObject({ owner: 'self', labels: { 'ferry.managed': 'true', 'ferry.test': 'sandbox', 'ferry.owner.pid': String(process.pid) } });
    expect((await session.close()).exitReason).toBe('ok');
    expect(await driver.leftovers(id)).toEqual([]);
  });
});
