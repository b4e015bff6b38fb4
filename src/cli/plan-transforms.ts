/**
 * The model-written functions kept beside a plan (`<plan>.transforms.json`): what `ferry
 * approve` writes and pins (plan-command.ts transformsFor) and what `ferry run` takes, only as
 * pinned (approvedTransforms). Its own module: a run loads it without the planning and model
 * code that writes the functions.
 */
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { GeneratedScript } from '../core/artifacts/generated-script.js';
import { contentHash, sha256 } from '../core/artifacts/hash.js';
import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { PlanError } from '../core/errors.js';
import { ModelTranscript } from '../core/llm/transcript.js';
import type { RunStore } from '../store/run-store.js';

type Say = (line: string) => void;

/** Model-written transform bodies kept beside a plan, for the plan revision they were written for. */
export const PlanTransforms = z.object({
  kind: z.literal('plan_transforms'),
  planHash: z.string(),
  bodies: z.record(z.string(), z.string()),
  generator: GeneratedScript.shape.generator,
  transcript: ModelTranscript,
});
export type PlanTransforms = z.infer<typeof PlanTransforms>;

export function transformsPath(planPath: string): string {
  return `${planPath.replace(/\.json$/, '')}.transforms.json`;
}

/** sha256 of each model-written function body, by target column: what an approval pins. */
export function transformHashes(bodies: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(bodies).sort(([a], [b]) => a.localeCompare(b)).map(([column, body]) => [column, sha256(body)]));
}

/**
 * For `ferry run`: the model-written functions exactly as the approval pinned them. Never
 * asks a model for code: a missing file, or functions for another revision, is refused
 * (TRANSFORMS_MISSING) with the command that writes and pins them; a body whose sha256 is
 * not the pinned one is refused (TRANSFORMS_TAMPERED). Undefined when the plan has none.
 */
export async function approvedTransforms(input: {
  planPath: string;
  plan: MigrationPlan;
  store: Pick<RunStore, 'transformHashes'>;
  say: Say;
}): Promise<{ bodies: Record<string, string>; generator: GeneratedScript['generator'] } | undefined> {
  const columns = input.plan.columns.filter((c) => c.origin.kind === 'transform').map((c) => c.target);
  if (columns.length === 0) return undefined;
  const path = transformsPath(input.planPath);
  const missing = (why: string) =>
    new PlanError('TRANSFORMS_MISSING', `the plan's transform column(s) ${columns.join(', ')} need model-written functions, and ${why}; ferry run never asks a model for code`, {
      hint: `have them written and approved with the plan: ANTHROPIC_API_KEY=… ferry approve ${input.planPath} (read them in ${path}), then run again`,
    });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw missing(`${path} does not exist`);
  }
  const parsed = PlanTransforms.safeParse((() => { try { return JSON.parse(text) as unknown; } catch { return null; } })());
  if (!parsed.success) throw missing(`${path} is not a functions file ferry wrote`);
  if (parsed.data.planHash !== contentHash(input.plan)) throw missing(`${path} was written for another revision of the plan`);
  const pinned = await input.store.transformHashes(input.plan);
  if (!pinned) throw missing(`the approval of revision ${input.plan.revision} pinned none (approved before they were written, or by a ferry that did not pin them)`);
  const actual = transformHashes(parsed.data.bodies);
  for (const column of [...new Set([...Object.keys(pinned), ...Object.keys(actual), ...columns])].sort()) {
    if (pinned[column] !== actual[column]) {
      throw new PlanError(
        'TRANSFORMS_TAMPERED',
        `the function for ${column} in ${path} is not the one approved: approved sha256 ${pinned[column] ?? '(none)'}, the file's ${actual[column] ?? '(none)'}`,
        { hint: `restore ${path} as approved, or make a new revision of the plan and approve it (ferry approve … with ANTHROPIC_API_KEY set)`, details: { column, approved: pinned[column] ?? null, found: actual[column] ?? null } },
      );
    }
  }
  input.say(`   model-written functions from ${path} (as approved: sha256 pinned per function)`);
  return { bodies: parsed.data.bodies, generator: parsed.data.generator };
}
