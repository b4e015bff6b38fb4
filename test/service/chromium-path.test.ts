import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumForTests, ChromiumNotFound, findChromium } from '../setup/chromium.js';

/** How the browser tests find Chromium: environment first, then known places; loud in CI. */
describe('finding Chromium for the browser tests', () => {
  let dir: string;
  let runnable: string;
  let other: string;
  let notExecutable: string;
  const none = () => null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry chromium path-'));
    runnable = join(dir, 'chrome (beta)');
    other = join(dir, 'chromium-browser');
    notExecutable = join(dir, 'chromium.txt');
    for (const p of [runnable, other]) {
      await writeFile(p, '#!/bin/sh\nexit 0\n');
      await chmod(p, 0o755);
    }
    await writeFile(notExecutable, 'not a browser');
    await chmod(notExecutable, 0o644);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('takes FERRY_CHROMIUM_PATH first, then PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH, over any known place', () => {
    expect(findChromium({ FERRY_CHROMIUM_PATH: runnable, PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: other }, [other], none)).toBe(runnable);
    expect(findChromium({ PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: ` ${other} ` }, [runnable], none)).toBe(other);
  });

  it('refuses a path in the environment that is not an executable file, naming the variable, instead of falling back', () => {
    for (const bad of [notExecutable, join(dir, 'missing-chrome'), dir]) {
      expect(() => findChromium({ FERRY_CHROMIUM_PATH: bad }, [runnable], none)).toThrow(new RegExp(`FERRY_CHROMIUM_PATH is "${bad.replace(/[()]/g, '\\$&')}"`));
    }
  });

  it('falls back to the first executable known place, the managed browser before the rest', () => {
    expect(findChromium({}, [join(dir, 'nope'), notExecutable, other, runnable], none)).toBe(other);
    expect(findChromium({ FERRY_CHROMIUM_PATH: '  ' }, [other], () => runnable)).toBe(runnable);
  });

  it('says where it looked and what to do when nothing is found', () => {
    const error = (() => {
      try {
        findChromium({}, [notExecutable, join(dir, 'nope')], none);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ChromiumNotFound);
    expect((error as Error).message).toContain(notExecutable);
    expect((error as Error).message).toContain('FERRY_CHROMIUM_PATH');
  });

  it('skips with the reason outside CI, and fails loudly in CI', () => {
    const missing = { FERRY_CHROMIUM_PATH: join(dir, 'gone') };
    expect(chromiumForTests({ ...missing })).toMatchObject({ path: null, skip: expect.stringContaining('gone') });
    expect(() => chromiumForTests({ ...missing, CI: 'true' })).toThrow(ChromiumNotFound);
    expect(chromiumForTests({ FERRY_CHROMIUM_PATH: runnable, CI: 'true' })).toEqual({ path: runnable, skip: null });
  });
});
