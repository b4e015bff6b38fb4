import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root directory (where package.json is). Files read at run time (prompts/,
 * expr/runtime.ts, the review page, the sandbox harness) are resolved from it, not from
 * import.meta.url, so they are found alike from the TypeScript sources (tsx) and from the
 * compiled tree in dist/, which holds only JavaScript.
 */
function findPackageRoot(from: string): string {
  for (let dir = from; ; ) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the package, from repository-relative parts: packagePath('src', 'review', 'page'). */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
