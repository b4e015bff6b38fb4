import { parseArgs } from 'node:util';
import { InputError } from '../core/errors.js';
import type { FerryConfig } from '../config.js';
import type { Say } from '../chain.js';

/**
 * Each command declares its own flags; `node:util` parseArgs (strict) reads them. It is part of
 * Node (no dependency to keep up), refuses unknown flags and missing values, and is all a
 * dozen commands with a few flags each need; help and refusals are written here from the
 * same declarations, so they cannot drift from what is parsed.
 */
export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in help: `--parallel <n>`. */
  value?: string;
  /** One line for `ferry <command> --help`. */
  help: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** What parseArgs gives for these flags: booleans, strings, or string lists (multiple). */
export type FlagValues<F extends FlagSpecs> = {
  [K in keyof F]?: F[K]['type'] extends 'boolean' ? boolean : F[K]['multiple'] extends true ? string[] : string;
};

export interface CommandContext {
  say: Say;
  /** The configuration read once from the environment, before --source / --target apply. */
  loadConfig: () => FerryConfig;
}

export interface Command<F extends FlagSpecs = FlagSpecs> {
  name: string;
  /** The usage lines, each starting with `ferry <name>`. */
  usage: string;
  /** One line for `ferry --help`. */
  summary: string;
  /** What the command does, after the flags in its help. */
  details: string;
  flags: F;
  run(args: { values: FlagValues<F>; positionals: string[] }, ctx: CommandContext): Promise<number>;
}

/** Every command takes --help; declared once here so none forgets it. */
export const HELP_FLAG = { help: { type: 'boolean', short: 'h', help: 'print this help' } } as const satisfies FlagSpecs;

export function defineCommand<const F extends FlagSpecs>(command: Command<F>): Command<F> {
  return command;
}

/** `--name <value>` (or `--name`), as in help and error messages. */
export function flagSyntax(name: string, spec: FlagSpec): string {
  const short = spec.short ? `-${spec.short}, ` : '';
  return `${short}--${name}${spec.type === 'string' ? ` ${spec.value ?? '<value>'}` : ''}${spec.multiple ? ' (repeatable)' : ''}`;
}

export function commandHelp(command: Command<FlagSpecs>): string {
  const rows = Object.entries(command.flags).map(([name, spec]) => [flagSyntax(name, spec), spec.help] as const);
  const width = Math.max(...rows.map(([syntax]) => syntax.length));
  const flags = rows.map(([syntax, help]) => `  ${syntax.padEnd(width)}  ${help}`);
  return [command.usage, '', 'Flags', ...flags, '', command.details].join('\n');
}

const flagList = (command: Command<FlagSpecs>) => Object.keys(command.flags).map((f) => `--${f}`).join(', ');

/** The command's flags and positionals; an unknown flag or a flag without its value is refused, naming the command's flags. */
export function parseCommandArgs<F extends FlagSpecs>(command: Command<F>, argv: string[]): { values: FlagValues<F>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(command.flags).map(([name, s]) => [name, { type: s.type, ...(s.multiple ? { multiple: true } : {}), ...(s.short ? { short: s.short } : {}) }]),
  );
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as FlagValues<F>, positionals };
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const message = (cause as Error).message;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
      throw new InputError('CLI_UNKNOWN_FLAG', `ferry ${command.name} has no flag ${flag}; its flags are ${flagList(command)}`, {
        cause,
        hint: `ferry ${command.name} --help describes each`,
        details: { command: command.name, flag, flags: Object.keys(command.flags) },
      });
    }
    throw new InputError('CLI_FLAG_INVALID', `ferry ${command.name}: ${message}`, { cause, hint: `ferry ${command.name} --help describes its flags: ${flagList(command)}` });
  }
}

export interface IntegerBounds {
  /** Smallest accepted (default 1); `--port` takes 0, "any free port". */
  min?: number;
  max?: number;
  hint?: string;
  /** CLI_FLAG_INVALID for a flag; ARG_INVALID for a positional id. */
  code?: string;
}

/**
 * The one parser of every numeric flag and id: a whole number from `min` (default 1) to `max`,
 * written in plain digits. `--batch 0`, `--batch abc`, `--batch 1.5`, `--limit 1e3` are refused
 * naming the flag.
 */
export function positiveInteger(name: string, raw: string, bounds: IntegerBounds = {}): number {
  const min = bounds.min ?? 1;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max !== Number.MAX_SAFE_INTEGER ? `a whole number from ${min} to ${max}` : min === 1 ? 'a positive whole number' : `a whole number from ${min}`;
    throw new InputError(bounds.code ?? 'CLI_FLAG_INVALID', `${name} takes ${range}, got "${raw}"`, {
      hint: bounds.hint ?? `e.g. ${name} ${Math.max(min, Math.min(max, 10))}`,
      details: { flag: name, value: raw, min, max },
    });
  }
  return n;
}

/** A numeric flag that may be left out: its default then. */
export function optionalPositiveInteger(name: string, raw: string | undefined, fallback: number, bounds: IntegerBounds = {}): number {
  return raw === undefined ? fallback : positiveInteger(name, raw, bounds);
}
