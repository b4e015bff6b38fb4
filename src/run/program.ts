/**
 * The program a plan runs: generated, type-checked and bundled (the Code Interpreter), written
 * beside the plan for a person to read.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateBundled, type BundlePins } from '../../agents/code-interpreter/index.js';
import type { GeneratedScript } from '../core/artifacts/generated-script.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { findTable, type SchemaAnalysis, type TableInfo } from '../core/artifacts/schema-analysis.js';
import { PlanError } from '../core/errors.js';

export type Say = (line: string) => void;

export interface PreparedProgram {
  script: GeneratedScript;
  bundle: { path: string; sha256: string; bytes: number };
  programPath: string;
}

/** Writes the program beside the plan for a person to read, type-checks it, bundles it. */
export async function prepareProgram(input: {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  dir: string;
  say?: Say;
  /** Model-written bodies for the plan's transform columns (see src/chain-claude.ts writeProgramTransforms). */
  transforms?: { bodies: Record<string, string>; generator: GeneratedScript['generator'] };
  /** The Node major of the sandbox that runs it (config.sandboxNode.major); default 18. */
  nodeMajor?: number;
  /** Where bundles built before are pinned (the run store: src/store/bundle-pins.ts); without it every call bundles. */
  pins?: BundlePins;
}): Promise<PreparedProgram> {
  const say = input.say ?? (() => {});
  say('🧩 Code Interpreter: generating the transform program…');
  const { script, bundle } = await generateBundled({
    plan: input.plan,
    analysis: input.analysis,
    ...(input.transforms ? { transforms: input.transforms.bodies, transformsGenerator: input.transforms.generator } : {}),
    ...(input.nodeMajor !== undefined ? { nodeMajor: input.nodeMajor } : {}),
    typecheckCacheDir: input.dir,
    outDir: input.dir,
    ...(input.pins ? { pins: input.pins } : {}),
    notice: (line) => say(`   ⚠️  ${line}`),
  });
  const programPath = join(input.dir, 'program.ts');
  await Promise.all([writeIfChanged(programPath, script.program), writeIfChanged(join(input.dir, 'row-types.ts'), script.rowTypes)]);
  say(`   ${script.program.split('\n').length} lines, type-checked against row types from the analysed schemas: ${script.typecheck.ok ? 'OK' : 'FAILED'}`);
  const how = bundle.source === 'reused' ? 'the bundle built before, its sha256 as pinned' : 'bundled into one file';
  say(`   ${how}: ${bundle.bytes} bytes, sha256 ${bundle.sha256.slice(0, 12)}…`);
  return { script, bundle: { path: bundle.path, sha256: bundle.sha256, bytes: bundle.bytes }, programPath };
}

/** program.ts and row-types.ts are for a person to read; a run of the same program leaves them as they are. */
async function writeIfChanged(path: string, text: string): Promise<void> {
  const now = await readFile(path, 'utf8').catch(() => null);
  if (now !== text) await writeFile(path, text);
}

export function targetTableOf(plan: MigrationPlan, analysis: SchemaAnalysis): TableInfo {
  const t = findTable(analysis.target, plan.target.table, plan.target.schema);
  if (!t) throw new PlanError('ANALYSIS_MISMATCH', `the analysis has no target table ${plan.target.schema}.${plan.target.table}`);
  return t;
}
