import { InputError } from '../core/errors.js';
import { commandHelp, parseCommandArgs, type Command, type CommandContext, type FlagSpecs } from './args.js';
import { COMMAND_LIST } from './commands/registry.js';

const ENVIRONMENT = `Environment
  SOURCE_DATABASE_URL      the legacy database (read in one read-only snapshot)
  TARGET_DATABASE_URL      the new database (for Supabase: the direct or session-pooler URL)
  FERRY_HOME               where plans and programs are kept (default ./.ferry)
  FERRY_SANDBOX            docker (default) or local (weaker; needs --allow-weak-sandbox)
  FERRY_LOG_LEVEL          JSON log level on stderr (default warn)
  ANTHROPIC_API_KEY        plan with Claude (ferry plan --llm claude); ANTHROPIC_BASE_URL to redirect
  FERRY_MODEL              the model (default claude-sonnet-4-5); FERRY_MODEL_TIMEOUT_MS (120000),
                           FERRY_MODEL_MAX_RETRIES (4), FERRY_MODEL_TOKEN_BUDGET per plan (200000)
  FERRY_STATE_URL          where the run store (schema ferry) lives (default: the target)
  FERRY_API_TOKEN          the bearer token of ferry serve (default: generated at first start)`;

export function topHelp(commands: ReadonlyArray<{ name: string; summary: string }> = COMMAND_LIST): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return [
    'ferry — move a table from a legacy PostgreSQL into a new PostgreSQL/Supabase schema, safely.',
    '',
    'Usage: ferry <command> [arguments] [flags]',
    '',
    'Commands',
    ...lines,
    '',
    ENVIRONMENT,
    '',
    'Run "ferry <command> --help" for a command\'s flags. Try the whole chain with: npm run demo',
  ].join('\n');
}

/** The command's module, imported now (see commands/registry.ts). */
export async function findCommand(name: string): Promise<Command<FlagSpecs>> {
  const entry = COMMAND_LIST.find((c) => c.name === name);
  if (!entry) throw new InputError('COMMAND_UNKNOWN', `unknown command "${name}"`, { hint: `ferry --help lists the commands: ${COMMAND_LIST.map((c) => c.name).join(', ')}` });
  return entry.load();
}

/**
 * `ferry <command> …`: the command is the first argument; its own flags and positionals follow
 * (flags and positionals in any order). Nothing is read or opened before the flags are known good.
 */
export async function dispatch(argv: string[], ctx: CommandContext): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    ctx.say(topHelp());
    return first === undefined ? 2 : 0;
  }
  if (first.startsWith('-')) {
    throw new InputError('CLI_UNKNOWN_FLAG', `flags follow the command: ferry <command> ${first} …`, { hint: 'ferry --help lists the commands; ferry <command> --help their flags' });
  }
  const command = await findCommand(first);
  const args = parseCommandArgs(command, rest);
  if ((args.values as Record<string, unknown>).help === true) {
    ctx.say(commandHelp(command));
    return 0;
  }
  return command.run(args, ctx);
}
