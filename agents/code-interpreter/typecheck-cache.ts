import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TYPECHECK_SETUP } from './typecheck.js';

/**
 * A type-check passed once for exactly this program and these row types need not be run again:
 * `ferry approve` checks the program, and `ferry run` of the same approved plan generates the
 * same text. The pass is pinned by a hash of everything the check reads (the program, the row
 * types, the contract and options, TypeScript's version); any other text is checked in full,
 * and a failure is never cached. Skipping it spares a run loading the TypeScript compiler
 * (the larger part of a second). The file lives beside the program (the plan's bundle dir).
 */
const FILE = 'typecheck-passed.json';
const require = createRequire(import.meta.url);

export function typecheckKey(program: string, rowTypes: string): string {
  const tsVersion = (require('typescript/package.json') as { version: string }).version;
  return createHash('sha256').update(JSON.stringify([TYPECHECK_SETUP, tsVersion, program, rowTypes])).digest('hex');
}

export async function typecheckPassedBefore(dir: string, key: string): Promise<boolean> {
  try {
    const recorded = JSON.parse(await readFile(join(dir, FILE), 'utf8')) as { passed?: unknown };
    return Array.isArray(recorded.passed) && recorded.passed.includes(key);
  } catch {
    return false;
  }
}

/** Remembers a pass (the last few, so alternating revisions of a plan both stay cached). */
export async function recordTypecheckPassed(dir: string, key: string): Promise<void> {
  let passed: string[] = [];
  try {
    const recorded = JSON.parse(await readFile(join(dir, FILE), 'utf8')) as { passed?: unknown };
    if (Array.isArray(recorded.passed)) passed = recorded.passed.filter((k): k is string => typeof k === 'string' && k !== key);
  } catch {
    // None yet, or unreadable: start afresh.
  }
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `${FILE}.${process.pid}`);
  await writeFile(tmp, `${JSON.stringify({ passed: [key, ...passed].slice(0, 8) })}\n`);
  await rename(tmp, join(dir, FILE));
}
