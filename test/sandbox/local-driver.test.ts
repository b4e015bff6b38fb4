import { describe, expect, it } from 'vitest';
import { LocalDriver, nodeFlagsFor } from '../../sandbox/local-driver.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { driverSuite, startWith } from './driver-suite.js';
import { bundleProgram, rows } from './helpers.js';

describe('local sandbox driver (weaker)', () => {
  const driver = new LocalDriver();

  it('says it is the weaker sandbox', async () => {
    const a = await driver.available();
    expect(a.ok).toBe(true);
    if (a.ok) expect(a.detail).toMatch(/weaker than Docker/);
  });

  it('runs node with the permission model and a heap limit', () => {
    expect(nodeFlagsFor(defaultPolicy, '/r/bundle.cjs', '20.20.2')).toEqual([
      '--experimental-permission',
      '--allow-fs-read=/r/bundle.cjs',
      '--max-old-space-size=384',
      '--disable-warning=ExperimentalWarning',
    ]);
    expect(nodeFlagsFor(defaultPolicy, '/b', '22.1.0')[0]).toBe('--permission');
  });

  it('confines the program by the permission model: no fs beyond the bundle, no child processes, no env', async () => {
    const { session } = await startWith(driver, await bundleProgram('probe'), 'probe');
    const outcome = await session.transform(1, rows('probe'));
    expect(outcome.status).toBe('ok');
    if (outcome.status !== 'ok') return;
    expect(outcome.rows[0]?.r).toMatchObject({
      env: ['FERRY_STREAM'],
      writeRoot: 'ERR_ACCESS_DENIED',
      writeTmp: 'ERR_ACCESS_DENIED',
      readPasswd: 'ERR_ACCESS_DENIED',
      spawn: 'ERR_ACCESS_DENIED',
    });
    if (process.getuid?.() === 0) expect(outcome.rows[0]?.r).toMatchObject({ uid: 1000, gid: 1000 });
    expect((await session.close()).exitReason).toBe('ok');
  });

  it('refuses a policy it cannot apply as written', async () => {
    const bundle = await bundleProgram('upper');
    await expect(startWith(driver, bundle, 'bad-policy', { timeoutMs: 0, memorySwapBytes: 1 })).rejects.toMatchObject({
      code: 'SANDBOX_POLICY_INVALID',
      message: expect.stringMatching(/timeoutMs must be a positive integer.*memorySwapBytes must be at least memoryBytes/),
    });
    await expect(startWith(driver, { ...bundle, sha256: 'f'.repeat(64) }, 'bad-hash')).rejects.toMatchObject({ code: 'SANDBOX_BUNDLE_MISMATCH' });
  });

  // A child process leaves nothing to list once it has exited.
  driverSuite(() => driver, { leftovers: async () => [], oomProgram: 'oom-heap' });
});
