import * as z from 'zod';

/** Why a sandboxed run ended. Every run ends with exactly one. */
export const ExitReason = z.enum(['ok', 'error', 'timeout', 'oom', 'killed', 'output_limit', 'protocol_error']);
export type ExitReason = z.infer<typeof ExitReason>;

export const SandboxRun = z.object({
  kind: z.literal('sandbox_run'),
  version: z.literal(1),
  runId: z.string(),
  driver: z.enum(['docker', 'local']),
  /** The policy the run was held to, as the driver applied it. */
  policy: z.record(z.string(), z.unknown()),
  image: z.string().nullable(),
  imageId: z.string().nullable(),
  /** The Node version that ran the program ("20.19.5"); null when the image does not say. Absent in older records. */
  nodeVersion: z.string().nullable().default(null),
  containerId: z.string().nullable(),
  bundleSha256: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** From create to the program's first frame on the stream. */
  startupMs: z.number().nonnegative().nullable(),
  durationMs: z.number().nonnegative(),
  exitReason: ExitReason,
  exitCode: z.number().int().nullable(),
  /** Peak memory of the sandbox as its cgroup (or the process) measured it. */
  peakMemoryBytes: z.number().int().nonnegative().nullable(),
  batches: z.number().int().nonnegative(),
  rowsIn: z.number().int().nonnegative(),
  rowsOut: z.number().int().nonnegative(),
  /** What went wrong, in words a person understands; null when exitReason is ok. */
  message: z.string().nullable(),
  logTail: z.array(z.string()),
});
export type SandboxRun = z.infer<typeof SandboxRun>;
