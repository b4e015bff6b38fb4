// Whether dist/ holds a build of the sources as they are now. Shared by bin/build.mjs (which
// records the state it built from) and bin/ferry.js (which runs that build only when it matches).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SOURCE_ROOTS = ['src', 'agents', 'sandbox'];
/** dist/current.json: { signature, dir }: the build in dist/<dir>/ and what it was built from. */
export const STAMP_FILE = 'current.json';

/**
 * Every file under the source roots with its size and mtime, and each directory's mtime (a
 * deleted or renamed file changes its directory's): one signature string. Stat-only; about
 * two hundred entries, a few milliseconds.
 */
export function sourceState(root) {
  const files = [];
  const parts = [];
  const walk = (rel) => {
    parts.push(`${rel}:${statSync(join(root, rel)).mtimeMs}`);
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (entry.isFile()) {
        const st = statSync(join(root, path));
        files.push(path);
        parts.push(`${path}:${st.size}:${st.mtimeMs}`);
      }
    }
  };
  for (const r of SOURCE_ROOTS) walk(r);
  return { files, signature: parts.join('\n') };
}

/** The entry of the build made from exactly the current sources, or null (none, or stale). */
export function freshEntry(root) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, 'dist', STAMP_FILE), 'utf8'));
  } catch {
    return null;
  }
  if (typeof stamp.dir !== 'string' || stamp.signature !== sourceState(root).signature) return null;
  return join(root, 'dist', stamp.dir, 'main.js');
}

export function distIsFresh(root) {
  return freshEntry(root) !== null;
}
