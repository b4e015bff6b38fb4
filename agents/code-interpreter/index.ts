import * as z from 'zod';
import { GeneratedScript } from '../../src/core/artifacts/generated-script.js';
import { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import { SchemaAnalysis } from '../../src/core/artifacts/schema-analysis.js';
import { CodegenError, InputError } from '../../src/core/errors.js';
import { bundleProgram, parentsEntry, writeBundle, type BundleInfo, type BundleInput, type ParentValues } from './bundle.js';
import { cachedBundle, type BundlePins, type CachedBundle } from './bundle-cache.js';
import { GENERATOR_VERSION, generateProgram } from './generate-program.js';
import { resolvePlan } from './resolve.js';
import { generateRowTypes } from './row-types.js';
import { formatDiagnostics, typecheckProgram, type TypecheckResult } from './typecheck.js';
import { recordTypecheckPassed, typecheckKey, typecheckPassedBefore } from './typecheck-cache.js';

export { GENERATOR_VERSION } from './generate-program.js';
export { bundleKey, type BundlePins, type CachedBundle } from './bundle-cache.js';
export { BUNDLE_FILE, HARNESS_PATH, bundleProgram, harnessEntry, parentsEntry, writeBundle, type BundleInfo, type BundleInput, type BundleResult, type ParentValues } from './bundle.js';
export { formatDiagnostics, typecheckProgram, type TypecheckResult } from './typecheck.js';
export { resolvePlan } from './resolve.js';

export interface GenerateScriptInput {
  plan: MigrationPlan;
  analysis: SchemaAnalysis;
  /**
   * A program written by a person or a model instead of the generated one. It is held to the
   * same row types and the same type-check; nothing about it is trusted more.
   */
  programOverride?: string;
  /** Who wrote the override; recorded in the artifact. Defaults to this generator, marked `+override`. */
  overrideGenerator?: GeneratedScript['generator'];
  /**
   * Function bodies for the plan's transform columns, by target column (written by a model:
   * agents/code-interpreter/claude). Embedded in the generated program and type-checked with it.
   */
  transforms?: Readonly<Record<string, string>>;
  /** Recorded as the generator when transforms are given. */
  transformsGenerator?: GeneratedScript['generator'];
  /** The Node major of the sandbox that will run the bundle (FERRY_SANDBOX_NODE); default 18. Recorded in the artifact. */
  nodeMajor?: number;
  /**
   * Where a passed type-check of this exact program is remembered (the plan's bundle dir): a
   * second generation of the same text (ferry run after ferry approve) skips the check.
   */
  typecheckCacheDir?: string;
}

/** The first line of every bundle: which plan's program it is. */
function bannerFor(planHash: string): string {
  return `// ferry transform bundle for plan ${planHash}: generated program + sandbox harness`;
}

/** Inputs are artifacts too: validated here, so a hand-built object cannot slip past the schema. */
function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InputError('ARTIFACT_INVALID', `the ${what} is not a valid artifact:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

async function checkOrCached(program: string, rowTypes: string, cacheDir: string | undefined): Promise<TypecheckResult> {
  if (cacheDir === undefined) return typecheckProgram({ program, rowTypes });
  const key = typecheckKey(program, rowTypes);
  if (await typecheckPassedBefore(cacheDir, key)) return { ok: true, diagnostics: [] };
  const result = typecheckProgram({ program, rowTypes });
  if (result.ok) await recordTypecheckPassed(cacheDir, key);
  return result;
}

/** The program generated (or given) and type-checked, and what its bundle is built from; nothing bundled yet. */
async function checkedProgram(input: GenerateScriptInput) {
  const plan = parseInput(MigrationPlan, input.plan, 'migration plan');
  const analysis = parseInput(SchemaAnalysis, input.analysis, 'schema analysis');
  const resolved = resolvePlan(plan, analysis);
  const rowTypes = generateRowTypes(resolved);
  const transforms = new Map(Object.entries(input.transforms ?? {}));
  const program = input.programOverride ?? generateProgram(resolved, rowTypes, transforms);

  const typecheck = await checkOrCached(program, rowTypes.text, input.typecheckCacheDir);
  if (!typecheck.ok) {
    const origin = input.programOverride === undefined ? 'The generated program' : 'The given program';
    throw new CodegenError(
      'PROGRAM_TYPECHECK_FAILED',
      `${origin} for plan ${plan.id} revision ${plan.revision} does not type-check against the row types of the analysed schemas ` +
        `(${typecheck.diagnostics.length} error${typecheck.diagnostics.length === 1 ? '' : 's'}):\n${formatDiagnostics(typecheck.diagnostics)}`,
      {
        hint:
          input.programOverride === undefined
            ? 'This is a ferry bug or a plan the generator cannot express; the diagnostics name the column.'
            : 'Fix the program: it may read only SourceRow columns and must return exactly ProgramOutput.',
        details: { diagnostics: typecheck.diagnostics, program, rowTypes: rowTypes.text },
      },
    );
  }
  const bundleInput: BundleInput = {
    program,
    rowTypes: rowTypes.text,
    banner: bannerFor(resolved.planHash),
    ...(input.nodeMajor !== undefined ? { nodeMajor: input.nodeMajor } : {}),
  };
  return { planHash: resolved.planHash, program, rowTypes: rowTypes.text, transforms, typecheck, bundleInput };
}

function scriptArtifact(input: GenerateScriptInput, checked: Awaited<ReturnType<typeof checkedProgram>>, bundle: { sha256: string; bytes: number; target: string }): GeneratedScript {
  const { transforms } = checked;
  const generator =
    input.programOverride === undefined
      ? transforms.size > 0 && input.transformsGenerator
        ? input.transformsGenerator
        : { kind: 'deterministic' as const, version: GENERATOR_VERSION }
      : (input.overrideGenerator ?? { kind: 'deterministic' as const, version: `${GENERATOR_VERSION}+override` });

  return GeneratedScript.parse({
    kind: 'generated_script',
    version: 1,
    createdAt: new Date().toISOString(),
    planHash: checked.planHash,
    generator,
    program: checked.program,
    rowTypes: checked.rowTypes,
    typecheck: checked.typecheck,
    bundle: { sha256: bundle.sha256, bytes: bundle.bytes, target: bundle.target },
    ...(input.programOverride === undefined && transforms.size > 0 ? { transforms: Object.fromEntries(transforms) } : {}),
  });
}

/**
 * The Code Interpreter: an approved plan and the analysis it was made from → a type-checked
 * transform program, its row types, and the hash of its sandbox bundle.
 *
 * Refuses (PlanError) a plan that is not approved, still has open review items, or does not
 * match the analysis. A program that does not type-check throws CodegenError
 * PROGRAM_TYPECHECK_FAILED listing every diagnostic; this happens before any container.
 *
 * The bundle is built here, in memory, only to hash it: bundling is deterministic, so
 * bundleScript() later rebuilds the same bytes into the run directory and checks them
 * against this hash. Nothing is written to disk here. (A run uses generateBundled: one build.)
 */
export async function generateScript(input: GenerateScriptInput): Promise<GeneratedScript> {
  const checked = await checkedProgram(input);
  const bundle = await bundleProgram(checked.bundleInput);
  return scriptArtifact(input, checked, bundle);
}

/**
 * generateScript and bundleScript in one, bundling once: the script and its `bundle.cjs` in
 * `outDir`. With `pins` (the run store), a bundle already built for exactly this program is
 * reused when its bytes hash to the pinned sha256 (see bundle-cache.ts); otherwise it is built
 * and pinned. `notice` hears when bytes on disk were refused.
 */
export async function generateBundled(
  input: GenerateScriptInput & { outDir: string; pins?: BundlePins; notice?: (line: string) => void },
): Promise<{ script: GeneratedScript; bundle: CachedBundle }> {
  const checked = await checkedProgram(input);
  const bundle = await cachedBundle(checked.bundleInput, input.outDir, input.pins, input.notice);
  return { script: scriptArtifact(input, checked, bundle), bundle };
}

/**
 * Writes the script's sandbox bundle (`bundle.cjs`) into `outDir` and returns where it is.
 * The bytes must hash to what the artifact recorded; if the harness or the bundler changed
 * since the script was generated they would not, and running them would make the record lie.
 */
export async function bundleScript(script: GeneratedScript, outDir: string): Promise<BundleInfo> {
  // Rebuilt for the target recorded with the hash, so the bytes can match whatever the setting is now.
  const nodeMajor = Number((script.bundle.target ?? 'node18').slice('node'.length));
  const info = await writeBundle({ program: script.program, rowTypes: script.rowTypes, banner: bannerFor(script.planHash), nodeMajor }, outDir);
  if (info.sha256 !== script.bundle.sha256 || info.bytes !== script.bundle.bytes) {
    throw new CodegenError(
      'BUNDLE_MISMATCH',
      `the bundle built now (sha256 ${info.sha256}, ${info.bytes} bytes) is not the one recorded when the script was generated ` +
        `(sha256 ${script.bundle.sha256}, ${script.bundle.bytes} bytes)`,
      { hint: 'The sandbox harness or the bundler changed since generation; generate the script again.', details: { path: info.path } },
    );
  }
  return info;
}

/**
 * The bundle one run executes when the program's expressions read parents: first the script's
 * own bundle is rebuilt and checked against its recorded hash (as bundleScript does), then the
 * same program is bundled again with an entry that hands it this run's parent values. The
 * run's bundle (and so its hash) includes those values: what ran is what is recorded.
 */
export async function bundleScriptWithParents(script: GeneratedScript, outDir: string, values: ParentValues): Promise<BundleInfo> {
  await bundleScript(script, outDir);
  const nodeMajor = Number((script.bundle.target ?? 'node18').slice('node'.length));
  return writeBundle(
    { program: script.program, rowTypes: script.rowTypes, banner: `${bannerFor(script.planHash)} + this run's parent values`, nodeMajor, entry: parentsEntry(values) },
    outDir,
  );
}
