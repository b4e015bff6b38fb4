#!/usr/bin/env node
// ferry runs the compiled JavaScript in dist/ (built by `npm run build`, which `npm ci` runs as
// `prepare` and `npm test` as `pretest`) when it was built from the sources as they are now;
// otherwise, or with FERRY_TSX=1, it runs the TypeScript sources through tsx (development:
// an edit is live at once, never a stale build).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshEntry } from './dist-state.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = process.env.FERRY_TSX === '1' ? null : freshEntry(root);
if (entry) {
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
