import { describe, expect, it } from 'vitest';
import { LocalDriver, nodeFlagsFor } from '../../sandbox/local-driver.js';
import { defaultPolicy } from '../../sandbox/policy.js';
import { driverSuite } from './driver-suite.js';

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

  // A child process leaves nothing to list once it has exited.
  driverSuite(() => driver, { leftovers: async () => [], oomProgram: 'oom-heap' });
});
