import * as z from 'zod';

/** Tokens a model spent on an artifact. */
export const ModelUsage = z.object({
  inputTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().nonnegative(),
  requests: z.number().int().nonnegative(),
});

/** Who made an artifact: the deterministic agent, or a model (which, with which prompt, at what cost). */
export const ArtifactGenerator = z.object({
  kind: z.enum(['deterministic', 'claude']),
  version: z.string(),
  /** Set when a model took part. */
  model: z.string().optional(),
  promptHash: z.string().optional(),
  usage: ModelUsage.optional(),
  /** Estimated from list prices; null when the model's price is not known. */
  costUsd: z.number().nonnegative().nullable().optional(),
});
export type ArtifactGenerator = z.infer<typeof ArtifactGenerator>;
