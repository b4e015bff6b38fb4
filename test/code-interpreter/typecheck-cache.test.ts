import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateScript } from '../../agents/code-interpreter/index.js';
import { recordTypecheckPassed, typecheckKey, typecheckPassedBefore } from '../../agents/code-interpreter/typecheck-cache.js';
import { CodegenError } from '../../src/core/errors.js';
import { TECHNICIAN_ID, analysisFixture, planFixture } from './fixtures.js';

/** A program written against the fixture's row types (SourceRow: id, name, abbrev). */
const program = (nameExpr: string) =>
  [
    "import type { ProgramOutput, SourceRow } from './row-types';",
    'export function transform(row: SourceRow): ProgramOutput {',
    `  return { technician_id: '${TECHNICIAN_ID}', role_type: 'designing', role_name: ${nameExpr}, abbreviation: row.abbrev, legacy_role_id: row.id };`,
    '}',
    '',
  ].join('\n');

/**
 * `ferry approve` type-checks the program; `ferry run` of the same plan generates the same text
 * and finds the pass pinned by its hash. Only that exact text is spared the check.
 */
describe('a passed type-check, remembered by hash', () => {
  const analysis = analysisFixture();
  const plan = planFixture(analysis);
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-typecheck-cache-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records a pass under the key of exactly that program and row types', async () => {
    const good = program('row.name');
    const first = await generateScript({ plan, analysis, programOverride: good, typecheckCacheDir: dir });
    expect(first.typecheck.ok).toBe(true);
    const key = typecheckKey(good, first.rowTypes);
    expect(await typecheckPassedBefore(dir, key)).toBe(true);
    expect(JSON.parse(await readFile(join(dir, 'typecheck-passed.json'), 'utf8'))).toEqual({ passed: [key] });
    // One character of difference is another program.
    expect(typecheckKey(good.replace('row.name', 'row.name '), first.rowTypes)).not.toBe(key);
    expect(typecheckKey(good, `${first.rowTypes} `)).not.toBe(key);
  });

  it('never records a failure, and checks every text it has not seen pass', async () => {
    const bad = program('row.nonexistent');
    await expect(generateScript({ plan, analysis, programOverride: bad, typecheckCacheDir: dir })).rejects.toMatchObject({ code: 'PROGRAM_TYPECHECK_FAILED' });
    const rowTypes = (await generateScript({ plan, analysis, programOverride: program('row.name') })).rowTypes;
    expect(await typecheckPassedBefore(dir, typecheckKey(bad, rowTypes))).toBe(false);
  });

  it('consults the record: a pass recorded for a text skips its check (so the record must come from a real pass)', async () => {
    const bad = program('row.nonexistent');
    const rowTypes = (await generateScript({ plan, analysis, programOverride: program('row.name') })).rowTypes;
    const other = await mkdtemp(join(tmpdir(), 'ferry-typecheck-cache-'));
    try {
      await recordTypecheckPassed(other, typecheckKey(bad, rowTypes));
      const skipped = await generateScript({ plan, analysis, programOverride: bad, typecheckCacheDir: other });
      expect(skipped.typecheck).toEqual({ ok: true, diagnostics: [] });
      // Without the record (another directory, or none), the same text fails its check.
      const e = await generateScript({ plan, analysis, programOverride: bad }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CodegenError);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
