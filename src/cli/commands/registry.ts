import type { Command, FlagSpecs } from '../args.js';

/**
 * Every `ferry` command by name, with its one-line summary, in the order `ferry --help` lists
 * them; each module is imported only when its command runs, so `ferry --help` and a light
 * command such as `show` do not load the drivers, the compiler or the model SDK that others
 * need. The summaries live here (each command's `summary` is its entry) so they cannot drift.
 */
export const SUMMARIES = {
  plan: 'analyse both databases and write a reviewable plan',
  show: 'print a plan: columns, enum mapping, FK decision, risk, review items',
  approve: 'resolve flagged values (--map/--fk/--column) and approve',
  review: 'resolve flagged values and approve, question by question',
  run: 'generate, type-check and run the program in the sandbox, then validate',
  validate: 're-check a run: counts, mappings, every row, distribution, FKs',
  rollback: 'delete exactly the rows a run inserted, with their mappings',
  runs: 'list recorded runs; "runs show <run>": a run\'s timeline, logs, checksums and report',
  replay: "run a recorded run's bundle and plan again, dry, and compare",
  serve: 'the HTTP API (/api) and the review page (/)',
  sandbox: 'build the offline sandbox image, print the policy, list/remove leftovers (build-image|policy|ps|gc)',
  worker: 'claim and run the key ranges queued by ferry run --queue',
} as const;

export type CommandName = keyof typeof SUMMARIES;

const LOADERS: Record<CommandName, () => Promise<Command<FlagSpecs>>> = {
  plan: async () => (await import('./plan.js')).planCmd as Command<FlagSpecs>,
  show: async () => (await import('./show.js')).showCmd as Command<FlagSpecs>,
  approve: async () => (await import('./approve.js')).approveCmd as Command<FlagSpecs>,
  review: async () => (await import('./review.js')).reviewCmd as Command<FlagSpecs>,
  run: async () => (await import('./run.js')).runCmd as Command<FlagSpecs>,
  validate: async () => (await import('./validate.js')).validateCmd as Command<FlagSpecs>,
  rollback: async () => (await import('./rollback.js')).rollbackCmd as Command<FlagSpecs>,
  runs: async () => (await import('./runs.js')).runsCmd as Command<FlagSpecs>,
  replay: async () => (await import('./replay.js')).replayCmd as Command<FlagSpecs>,
  serve: async () => (await import('./serve.js')).serveCmd as Command<FlagSpecs>,
  sandbox: async () => (await import('./sandbox.js')).sandboxCmd as Command<FlagSpecs>,
  worker: async () => (await import('./worker.js')).workerCmd as Command<FlagSpecs>,
};

export interface CommandEntry {
  name: CommandName;
  summary: string;
  load: () => Promise<Command<FlagSpecs>>;
}

/**
 * A command's module, with zod told to interpret its schemas (see ../zod-config.ts) first: zod
 * reads the setting as each schema is built, when the command's modules are evaluated, so it
 * must be set before they are imported.
 */
async function loadCommand(name: CommandName): Promise<Command<FlagSpecs>> {
  if (!SETS_ZOD_ITSELF.has(name)) (await import('../zod-config.js')).interpretSchemas();
  return LOADERS[name]();
}

/**
 * Commands whose own module loads no zod and which set it themselves before they import the
 * modules that do: `run` starts its sandbox container first, so that zod's load (tens of ms)
 * goes on while the daemon works instead of before it starts.
 */
const SETS_ZOD_ITSELF: ReadonlySet<CommandName> = new Set(['run']);

export const COMMAND_LIST: readonly CommandEntry[] = (Object.keys(SUMMARIES) as CommandName[]).map((name) => ({ name, summary: SUMMARIES[name], load: () => loadCommand(name) }));
