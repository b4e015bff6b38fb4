import { accessSync, constants, statSync } from 'node:fs';
import { chromium } from 'playwright-core';

/**
 * Where the tests find Chromium, the way playwright-core lets a caller choose it: an
 * `executablePath` from the environment first (FERRY_CHROMIUM_PATH, then the
 * PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH other tools set), then the browser playwright-core
 * itself manages (`chromium.executablePath()`, present after `npx playwright install`), then
 * the places distributions install it.
 */
export const CHROMIUM_ENV = ['FERRY_CHROMIUM_PATH', 'PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH'] as const;
export const KNOWN_CHROMIUM_PATHS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/opt/google/chrome/chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

export class ChromiumNotFound extends Error {
  readonly code = 'CHROMIUM_NOT_FOUND';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function managedPath(): string | null {
  try {
    return chromium.executablePath();
  } catch {
    return null;
  }
}

/**
 * The Chromium to launch. A path named in the environment that is not an executable file is
 * an error (a typo must not silently fall back to another browser); nothing found is an error
 * that says where it looked and how to point at one.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env, known: readonly string[] = KNOWN_CHROMIUM_PATHS, managed: () => string | null = managedPath): string {
  for (const name of CHROMIUM_ENV) {
    const value = env[name]?.trim();
    if (!value) continue;
    if (isExecutable(value)) return value;
    throw new ChromiumNotFound(`${name} is "${value}", which is not an executable file; point it at a Chromium or Chrome binary, or unset it`);
  }
  const candidates = [managed(), ...known].filter((p): p is string => !!p);
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new ChromiumNotFound(
    `no Chromium found: ${CHROMIUM_ENV.join(' and ')} are unset and none of ${candidates.join(', ')} is an executable file; ` +
      `install one (apt-get install chromium; .ci/run does) or set FERRY_CHROMIUM_PATH to its path`,
  );
}

/**
 * For a test file that needs a browser: the path, or — outside CI only — the reason to skip.
 * In CI (CI=true) a missing browser is a failure, since .ci/run installs one.
 */
export function chromiumForTests(env: NodeJS.ProcessEnv = process.env): { path: string; skip: null } | { path: null; skip: string } {
  try {
    return { path: findChromium(env), skip: null };
  } catch (e) {
    if (env.CI === 'true' || !(e instanceof ChromiumNotFound)) throw e;
    return { path: null, skip: e.message };
  }
}
