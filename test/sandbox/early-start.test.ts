import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerDriver, startEarly, type PoolLogger, type SandboxPool } from '../../sandbox/index.js';
import { LABEL } from '../../sandbox/owner.js';
import { bundleProgram, dockerStatus, policy, rows } from './helpers.js';
import { startWith } from './driver-suite.js';

const status = await dockerStatus();

function recordingLogger(): PoolLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (fields, message) => lines.push(`${message} ${JSON.stringify(fields)}`) };
}

/** Warm containers this process made (its pid in the owner label, a pool slot). */
async function oursWarm(): Promise<string[]> {
  const all = await new DockerDriver().containers();
  return all.filter((c) => c.labels[LABEL.ownerPid] === String(process.pid) && c.labels[LABEL.pool] !== undefined).map((c) => c.id);
}

/**
 * `ferry run`'s early sandbox (sandbox/index.ts startEarly): its containers are made as soon as
 * the daemon shows the image, beside the rest of the availability check, which still decides.
 * Real Docker; the image for Node 22 is one nobody built here.
 */
describe.skipIf(!status.ok)('startEarly on a daemon that cannot serve the run', () => {
  it('without the image: refused as before, nothing made and nothing warned about', async () => {
    const logger = recordingLogger();
    const early = startEarly({ prefer: 'docker', node: { major: 22, exact: null }, pool: 1, policy: policy(), logger });
    try {
      // Nothing to launch: the wait before the run's loading ends without its cap (a hang guard here, not a timing).
      await early.launching(600_000);
      const err = await early.choice().then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'SANDBOX_UNAVAILABLE', message: expect.stringMatching(/Node 22|node:22|node22/) });
      expect(await oursWarm()).toEqual([]);
      expect(logger.lines).toEqual([]);
    } finally {
      await early.close();
    }
  });

  it('without the image but allowed the weaker sandbox: the local driver is chosen, and the pool made nothing', async () => {
    const logger = recordingLogger();
    const early = startEarly({ prefer: 'docker', allowWeak: true, node: { major: 22, exact: null }, pool: 2, policy: policy(), logger });
    try {
      const choice = await early.choice();
      expect(choice).toMatchObject({ weaker: true });
      expect(choice.driver.kind).toBe('local');
      expect(await oursWarm()).toEqual([]);
      expect(logger.lines).toEqual([]);
    } finally {
      await early.close();
    }
  });
});

describe.skipIf(!status.ok)('startEarly on a daemon with the image', () => {
  it("says when the container's start has been asked: the daemon then has it, made by this process, before the run loads", async () => {
    const logger = recordingLogger();
    const early = startEarly({ prefer: 'docker', pool: 1, policy: policy(), logger });
    try {
      await early.launching(600_000);
      const made = await oursWarm();
      expect(made).toHaveLength(1);
      // Created, and its start asked of the daemon (it may still be starting): never a container left only created.
      const state = await new Dockerode().getContainer(made[0]!).inspect();
      expect(['created', 'running']).toContain(state.State.Status);
      const pool = (await early.choice()).driver as SandboxPool;
      await pool.settled();
      expect(pool.stats()).toMatchObject({ created: 1, ready: 1 });
      expect((await new Dockerode().getContainer(made[0]!).inspect()).State.Status).toBe('running');
      expect(logger.lines).toEqual([]);
    } finally {
      await early.close();
    }
    expect(await oursWarm()).toEqual([]);
  });

  it('hands the run a container it made beside the availability check, and leaves none behind', async () => {
    const logger = recordingLogger();
    const early = startEarly({ prefer: 'docker', pool: 1, policy: policy(), logger });
    try {
      const choice = await early.choice();
      expect(choice.weaker).toBe(false);
      const pool = choice.driver as SandboxPool;
      await pool.settled();
      expect(pool.stats()).toMatchObject({ created: 1, ready: 1 });
      const { session, id } = await startWith(pool, await bundleProgram('upper'), 'early');
      expect(pool.served.has(id)).toBe(true);
      expect(await session.transform(1, rows('x'))).toMatchObject({ status: 'ok', rows: [{ k: '1', r: { name: 'X' } }] });
      expect((await session.close()).exitReason).toBe('ok');
      expect(logger.lines).toEqual([]);
    } finally {
      await early.close();
    }
    expect(await oursWarm()).toEqual([]);
  });
});
