import { mkdir, mkdtemp, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshEntry, sourceState, STAMP_FILE } from '../../bin/dist-state.mjs';

/**
 * bin/ferry.js runs dist/ only when it was built from the sources as they are: an edit, a new
 * file, a deleted file all send it back to tsx until `npm run build`. A throwaway package
 * root stands in for the repository.
 */
describe('whether dist/ is fresh', () => {
  let root: string;

  async function stampBuild(): Promise<string> {
    const dir = 'build-test';
    await mkdir(join(root, 'dist', dir), { recursive: true });
    await writeFile(join(root, 'dist', dir, 'main.js'), '');
    await writeFile(join(root, 'dist', STAMP_FILE), JSON.stringify({ dir, signature: sourceState(root).signature }));
    return join(root, 'dist', dir, 'main.js');
  }
  /** mtimes a second later than anything written so far, so a change shows whatever the file system's resolution. */
  const later = new Date(Date.now() + 5_000);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ferry-dist-state-'));
    for (const d of ['src/cli', 'agents/x', 'sandbox/harness']) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, 'src/cli/main.ts'), 'export const a = 1;\n');
    await writeFile(join(root, 'agents/x/index.ts'), 'export const b = 2;\n');
    await writeFile(join(root, 'sandbox/harness/harness.ts'), 'export const c = 3;\n');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is fresh right after a build, and says where its entry is', async () => {
    const entry = await stampBuild();
    expect(freshEntry(root)).toBe(entry);
  });

  it('is not fresh without a build, or with a stamp that names no build', async () => {
    expect(freshEntry(root)).toBeNull();
    await mkdir(join(root, 'dist'));
    await writeFile(join(root, 'dist', STAMP_FILE), '{"signature":"x"');
    expect(freshEntry(root)).toBeNull();
  });

  it('goes stale when a source is edited, even to the same size', async () => {
    await stampBuild();
    await writeFile(join(root, 'agents/x/index.ts'), 'export const b = 9;\n');
    await utimes(join(root, 'agents/x/index.ts'), later, later);
    expect(freshEntry(root)).toBeNull();
  });

  it('goes stale when a file is added or deleted', async () => {
    await stampBuild();
    await writeFile(join(root, 'src/cli/extra.ts'), 'export {};\n');
    expect(freshEntry(root)).toBeNull();
    await stampBuild();
    await unlink(join(root, 'sandbox/harness/harness.ts'));
    await utimes(join(root, 'sandbox/harness'), later, later);
    expect(freshEntry(root)).toBeNull();
  });
});
