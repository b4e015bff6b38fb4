import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { policyJson, sandboxGc, sandboxPs } from '../../sandbox/cli.js';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { containerSpecFor } from '../../sandbox/docker-driver.js';
import { LABEL, currentOwner, ownerLabels, ownerState, processStartTime, type Owner } from '../../sandbox/owner.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { dockerStatus, ensureImage } from './helpers.js';

const me: Owner = { boot: 'boot-a', host: 'host-a', pid: 100, start: '555' };

describe('ownerState', () => {
  const alive = (pid: number, start: string) => pid === 200 && start === '777';
  it('tells self, a live orchestrator and a gone one apart on this machine', () => {
    expect(ownerState(ownerLabels(me), me, alive)).toBe('self');
    expect(ownerState(ownerLabels({ ...me, pid: 200, start: '777' }), me, alive)).toBe('alive');
    expect(ownerState(ownerLabels({ ...me, pid: 200, start: '778' }), me, alive)).toBe('gone');
    expect(ownerState(ownerLabels({ ...me, pid: 300 }), me, alive)).toBe('gone');
  });

  it('takes an earlier boot as gone, and never judges another host or a container without labels', () => {
    expect(ownerState(ownerLabels({ ...me, boot: 'boot-old', pid: 200, start: '777' }), me, alive)).toBe('gone');
    expect(ownerState(ownerLabels({ ...me, host: 'host-b', pid: 300 }), me, alive)).toBe('unknown');
    expect(ownerState({ [LABEL.run]: 'r1' }, me, alive)).toBe('unknown');
  });

  it('reads this process start time from /proc, and none for a process that has exited', () => {
    expect(currentOwner().start).toBe(processStartTime(process.pid));
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    expect(processStartTime(dead)).toBeNull();
  });
});

describe('ferry sandbox policy', () => {
  it("prints the policy in Docker's field names", () => {
    const printed = JSON.parse(policyJson()) as Record<string, unknown>;
    expect(printed).toMatchObject({
      User: '1000:1000',
      Env: ['FERRY_STREAM=/run/ferry/stream.sock'],
      NetworkDisabled: true,
      HostConfig: {
        Memory: defaultPolicy.memoryBytes,
        MemorySwap: defaultPolicy.memoryBytes,
        NanoCpus: 1e9,
        PidsLimit: 64,
        Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }],
        Init: true,
        NetworkMode: 'none',
        ReadonlyRootfs: true,
      },
      Ferry: { timeoutMs: 300_000, maxLogBytes: defaultPolicy.maxLogBytes, maxOutputBytes: defaultPolicy.maxOutputBytes },
    });
  });
});

const status = await dockerStatus();

describe.skipIf(!status.ok)('ferry sandbox ps / gc', () => {
  it('lists an orphaned container as such and removes only it', async () => {
    const docker = createDockerClient();
    const { image } = await ensureImage();
    const self = currentOwner();
    const make = (run: string, owner: Owner) =>
      docker.createContainer(
        containerSpecFor(defaultPolicy, image, { bundle: '/nonexistent/bundle.cjs', socketDir: '/nonexistent/stream' }, {
          'ferry.test': 'sandbox',
          [LABEL.managed]: 'true',
          [LABEL.run]: run,
          ...ownerLabels(owner),
        }),
      );
    // An earlier boot of this host: that orchestrator cannot be running. Every Docker driver of the
    // other test files reaps such containers on its first start, so one of them may take the orphan
    // before ps or gc sees it: then the attempt is made again with a new one.
    const live = await make(`gc-live-${process.pid}`, self);
    try {
      let checked = false;
      for (let attempt = 1; attempt <= 5 && !checked; attempt++) {
        const orphan = await make(`gc-orphan-${process.pid}-${attempt}`, { ...self, boot: 'an-earlier-boot' });
        const reapedElsewhere = async () => !(await docker.listContainerIds({ 'ferry.test': 'sandbox' })).includes(orphan);
        try {
          const ps = await sandboxPs();
          const listed = ps.find((l) => l.startsWith(orphan.slice(0, 12)));
          if (!listed && (await reapedElsewhere())) continue;
          expect(listed).toMatch(/run gc-orphan-\d+-\d+ .*ORPHANED: orchestrator gone/);
          expect(ps.find((l) => l.startsWith(live.slice(0, 12)))).toMatch(/this process/);
          const gc = await sandboxGc();
          const removed = gc.some((l) => l.startsWith(`removed ${orphan.slice(0, 12)}`));
          if (!removed && (await reapedElsewhere())) continue;
          expect(removed).toBe(true);
          const left = await docker.listContainerIds({ 'ferry.test': 'sandbox' });
          expect(left).not.toContain(orphan);
          expect(left).toContain(live);
          checked = true;
        } finally {
          await docker.removeContainer(orphan).catch(() => undefined);
        }
      }
      expect(checked, 'five orphans in a row were reaped by other processes before ps and gc saw them').toBe(true);
    } finally {
      await docker.removeContainer(live);
    }
  });
});
