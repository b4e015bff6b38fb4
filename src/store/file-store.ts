import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { contentHash } from '../core/artifacts/hash.js';
import { InputError, NotFoundError } from '../core/errors.js';

/**
 * Artifacts on disk as readable JSON. Every load is validated against the artifact's zod
 * schema, with problems reported by path, so a hand-edited plan that no longer makes sense
 * is refused with a reason instead of half-used.
 */
export async function saveJson(path: string, value: unknown): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
  return contentHash(value);
}

export async function loadArtifact<S extends z.ZodType>(path: string, schema: S, what: string): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new NotFoundError('FILE_NOT_FOUND', `cannot read the ${what} at ${path}`, { cause, hint: `check the path; ferry plan writes plans under .ferry/plans/` });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new InputError('ARTIFACT_NOT_JSON', `the ${what} at ${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 8).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new InputError('ARTIFACT_INVALID', `the ${what} at ${path} does not match its schema:\n  - ${issues.join('\n  - ')}`, {
      hint: 'restore it from ferry plan, or fix the fields named',
    });
  }
  return parsed.data;
}

/** Paths of everything kept beside one plan. */
export function planPaths(planPath: string) {
  const base = planPath.replace(/\.json$/, '');
  return {
    plan: planPath,
    analysis: `${base}.analysis.json`,
    /** The program (program.ts, row-types.ts) and its bundle, for a person to read. */
    bundleDir: `${base}.bundle`,
  };
}
