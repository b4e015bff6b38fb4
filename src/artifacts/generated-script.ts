import { z } from 'zod';

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
  generator: z.object({
    kind: z.enum(['deterministic', 'claude']),
    version: z.string(),
    /** Set when a model wrote part of the program: which, with which prompt, at what cost. */
    model: z.string().optional(),
    promptHash: z.string().optional(),
    usage: z.object({ inputTokens: z.number().int().nonnegative(), outputTokens: z.number().int().nonnegative(), requests: z.number().int().nonnegative() }).optional(),
    costUsd: z.number().nonnegative().nullable().optional(),
  }),
  /** Function bodies a model wrote for the plan's transform columns, by target column. */
  transforms: z.record(z.string(), z.string()).optional(),
  /** The transform program a person reads: TypeScript. */
  program: z.string(),
  /** Row types generated from the analysed schemas; the program is checked against them. */
  rowTypes: z.string(),
  typecheck: z.object({ ok: z.boolean(), diagnostics: z.array(Diagnostic) }),
  bundle: z.object({ sha256: z.string(), bytes: z.number().int().nonnegative() }),
});
export type GeneratedScript = z.infer<typeof GeneratedScript>;
