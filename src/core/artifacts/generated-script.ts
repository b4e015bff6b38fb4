import * as z from 'zod';
import { ArtifactGenerator } from './generator.js';

export const Diagnostic = z.object({
  file: z.string(),
  line: z.number().int().nullable(),
  column: z.number().int().nullable(),
  code: z.number().int(),
  message: z.string(),
});
export type Diagnostic = z.infer<typeof Diagnostic>;

/** The program the Code Interpreter wrote for one approved plan revision. */
export const GeneratedScript = z.object({
  kind: z.literal('generated_script'),
  version: z.literal(1),
  createdAt: z.string(),
  planHash: z.string(),
  generator: ArtifactGenerator,
  /** Function bodies a model wrote for the plan's transform columns, by target column. */
  transforms: z.record(z.string(), z.string()).optional(),
  /** The transform program a person reads: TypeScript. */
  program: z.string(),
  /** Row types generated from the analysed schemas; the program is checked against them. */
  rowTypes: z.string(),
  typecheck: z.object({ ok: z.boolean(), diagnostics: z.array(Diagnostic) }),
  bundle: z.object({
    sha256: z.string(),
    bytes: z.number().int().nonnegative(),
    /** The esbuild target the bundle was built for ("node20"); absent in scripts from before it was a setting: node18. */
    target: z.string().regex(/^node\d+$/).optional(),
  }),
});
export type GeneratedScript = z.infer<typeof GeneratedScript>;
