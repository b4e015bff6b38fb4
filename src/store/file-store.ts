import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { z } from 'zod';
import { contentHash } from '../core/artifacts/hash.js';
import { InputError, NotFoundError } from '../core/errors.js';

/**
 * Every path ferry makes from a name (a plan id, a table name, a run id) goes through here:
 * the result must stay under `home` (FERRY_HOME), so a legacy table called
 * `../../../../tmp/x` can never make ferry write outside it.
 */
export function homePath(home: string, ...parts: string[]): string {
  const root = resolve(home);
  const path = resolve(root, ...parts);
  const rel = relative(root, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new InputError('PATH_OUTSIDE_HOME', `refusing to write ${path}: it is not inside ferry's home ${root} (made from ${JSON.stringify(parts.join('/'))})`, {
      hint: 'plan ids and file names come from table names; make the plan again with ferry plan, which keeps ids to a-z, 0-9, _ and -',
    });
  }
  return path;
}

/** A plan argument that is not a file is a plan id in the run store (made by the service, say). */
export function isStoredPlanRef(ref: string): boolean {
  return ref !== '' && !ref.endsWith('.json') && !existsSync(ref);
}

/** Plan ids as file names: new ids keep to [a-z0-9_-]; upper case is still read for plans made before. */
const PLAN_FILE_ID = /^[A-Za-z0-9_-]+$/;

/** `<home>/plans/<plan id>.json`, refused for an id that is not a plain file name. */
export function planFilePath(home: string, planId: string): string {
  if (!PLAN_FILE_ID.test(planId)) {
    throw new InputError('PLAN_ID_INVALID', `plan id ${JSON.stringify(planId)} is not a plain file name (only a-z, 0-9, _ and - are kept)`, {
      hint: 'make the plan again with ferry plan: ids are made from the table names with anything else replaced',
    });
  }
  return homePath(home, 'plans', `${planId}.json`);
}

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
