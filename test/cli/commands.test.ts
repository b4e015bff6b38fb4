import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandHelp, positiveInteger, type CommandContext } from '../../src/cli/args.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { dispatch, topHelp } from '../../src/cli/dispatch.js';
import type { RunEvent } from '../../src/orchestrator/run-migration.js';
import { describeRunEvent, runEventPrinter, sandboxChoiceLine } from '../../src/present/run-events.js';
import { runFerry } from '../setup/ferry-bin.js';

/**
 * The command modules, without a database: every refusal here must come before any
 * configuration is read, so a context whose loadConfig throws proves nothing was opened.
 */
function context(): { ctx: CommandContext; lines: string[] } {
  const lines: string[] = [];
  const ctx: CommandContext = {
    say: (line) => lines.push(line),
    loadConfig: () => {
      throw new Error('the command read its configuration before refusing its arguments');
    },
  };
  return { ctx, lines };
}

async function refusal(argv: string[]): Promise<{ code: string; message: string; hint: string }> {
  const { ctx } = context();
  try {
    await dispatch(argv, ctx);
  } catch (e) {
    const err = e as { code?: string; message: string; hint?: string };
    return { code: err.code ?? 'NONE', message: err.message, hint: err.hint ?? '' };
  }
  throw new Error(`ferry ${argv.join(' ')} was not refused`);
}

const flagsOf = (name: string) => Object.keys(COMMANDS.find((c) => c.name === name)!.flags);
const allFlags = [...new Set(COMMANDS.flatMap((c) => Object.keys(c.flags)))];

describe('ferry commands as modules', () => {
  it.each(COMMANDS.map((c) => c.name))('ferry %s refuses a flag it does not know, naming its own flags', async (name) => {
    const r = await refusal([name, 'anything', '--frobnicate-everything', 'x']);
    expect(r.code).toBe('CLI_UNKNOWN_FLAG');
    expect(r.message).toContain('--frobnicate-everything');
    for (const flag of flagsOf(name)) expect(r.message).toContain(`--${flag}`);
    expect(r.hint).toContain(`ferry ${name} --help`);
  });

  it.each(COMMANDS.map((c) => c.name))("ferry %s refuses every other command's flag (one option bag no more)", async (name) => {
    const foreign = allFlags.filter((f) => !flagsOf(name).includes(f));
    expect(foreign.length).toBeGreaterThan(0);
    for (const flag of foreign) {
      const r = await refusal([name, 'some-arg', `--${flag}`, '3']);
      expect(r.code, `--${flag} on ${name}`).toBe('CLI_UNKNOWN_FLAG');
      expect(r.message).toContain(`--${flag}`);
    }
  });

  it.each([
    ['run', ['plans/x.json'], '--parallel', ['0', 'abc', '1.5', '33', '1e1', '-2', '']],
    ['rollback', ['12'], '--batch', ['0', 'abc', '1.5', '0x10', '-1', '']],
    ['runs', [], '--limit', ['0', 'abc', '2.5', '1e3', '']],
    ['serve', [], '--port', ['abc', '80.5', '65536', '-1', '']],
  ] as const)('ferry %s refuses a bad %s value naming the flag', async (name, positionals, flag, bad) => {
    for (const value of bad) {
      const r = await refusal([name, ...positionals, `${flag}=${value}`]);
      expect(r.code, `${flag}=${value}`).toBe('CLI_FLAG_INVALID');
      expect(r.message).toContain(flag);
      expect(r.message).toContain(`"${value}"`);
    }
  });

  it('a flag missing its value is refused naming the command', async () => {
    const r = await refusal(['run', 'plans/x.json', '--parallel']);
    expect(r.code).toBe('CLI_FLAG_INVALID');
    expect(r.message).toContain('--parallel');
    expect(r.hint).toContain('ferry run --help');
  });

  it('ids given as arguments go through the same parser', async () => {
    expect((await refusal(['rollback', '3.5'])).code).toBe('ARG_INVALID');
    expect((await refusal(['validate', 'seven'])).message).toContain('"seven"');
    expect((await refusal(['replay', '0'])).code).toBe('ARG_INVALID');
    expect((await refusal(['runs', 'show', '-'])).code).toBe('ARG_INVALID');
  });

  it('the one integer parser takes plain whole numbers in range only', () => {
    expect(positiveInteger('--rows', '1')).toBe(1);
    expect(positiveInteger('--rows', ' 250 ')).toBe(250);
    expect(positiveInteger('--port', '0', { min: 0, max: 65535 })).toBe(0);
    expect(() => positiveInteger('--rows', '9007199254740993')).toThrow(/--rows takes a positive whole number/);
    expect(() => positiveInteger('--rows', '+4')).toThrow(/"\+4"/);
  });

  it.each(COMMANDS.map((c) => c.name))('ferry %s --help lists exactly its flags', async (name) => {
    const { ctx, lines } = context();
    expect(await dispatch([name, '--help'], ctx)).toBe(0);
    const help = lines.join('\n');
    expect(help).toBe(commandHelp(COMMANDS.find((c) => c.name === name)!));
    expect(help).toContain(`ferry ${name}`);
    const section = help.split('\nFlags\n')[1]!.split('\n\n')[0]!;
    const listed = section.split('\n').map((l) => /--([a-z][a-z-]*)/.exec(l)?.[1]);
    expect(listed.sort()).toEqual(flagsOf(name).sort());
    // Usage and details may only speak of flags the command takes.
    const mentioned = new Set([...help.matchAll(/(?<![\w-])--([a-z][a-z-]*)/g)].map((m) => m[1]!));
    for (const flag of mentioned) expect(flagsOf(name), `--${flag} in the help of ${name}`).toContain(flag);
  });

  it('ferry --help lists every command; flags before the command are refused', async () => {
    const { ctx, lines } = context();
    expect(await dispatch(['--help'], ctx)).toBe(0);
    for (const c of COMMANDS) expect(lines.join('\n')).toContain(`  ${c.name} `);
    expect(lines.join('\n')).toBe(topHelp());
    expect((await refusal(['--json', 'show', 'x.json'])).code).toBe('CLI_UNKNOWN_FLAG');
    expect((await refusal(['frobnicate'])).code).toBe('COMMAND_UNKNOWN');
  });

  it('the ferry binary refuses a flag of another command before touching anything (exit 2)', async () => {
    const r = await runFerry({ PATH: process.env.PATH, HOME: process.env.HOME, TARGET_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, ['show', 'nowhere.json', '--parallel', '4']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CLI_UNKNOWN_FLAG: ferry show has no flag --parallel; its flags are --help, --json');
  });
});

const batch = (n: number, done: number, extra: Partial<Extract<RunEvent, { type: 'batch_committed' }>> = {}): RunEvent => ({
  type: 'batch_committed', batch: n, rows: 40, inserted: done, toMigrate: 1000, elapsedMs: 10 * n, worker: 0, done, rowsPerSec: 812, etaSeconds: 130, ...extra,
});

describe('the run-event presenter', () => {
  const events: RunEvent[] = [
    { type: 'started', migrationId: 41, sourceRows: 1003, alreadyMapped: 3, toMigrate: 1000, batchSize: 250, parallel: 2 },
    { type: 'started', migrationId: 0, sourceRows: 9, alreadyMapped: 0, toMigrate: 9, batchSize: 500, parallel: 1 },
    { type: 'resumed', abandoned: [7, 9], alreadyMapped: 120 },
    { type: 'sandbox_started', driver: 'docker', worker: 1 },
    batch(3, 120, { worker: 1 }),
    { type: 'log', line: 'harness: ready', stream: 'stderr' },
    { type: 'self_reference_resolved', column: 'mentor_ref', updated: 17, orphans: 2 },
    { type: 'finished', status: 'failed' },
  ];

  it('says every field of each event', () => {
    expect(events.map((e) => describeRunEvent(e))).toEqual([
      'migration 41 started: 1003 source rows under the filter, 3 already migrated, 1000 to migrate in batches of up to 250 rows, 2 key ranges side by side',
      'dry run started: 9 source rows under the filter, 0 already migrated, 9 to migrate in batches of up to 500 rows',
      'resuming: run(s) 7, 9 stopped without finishing and are marked failed (RUN_ABANDONED); their 120 committed rows are kept and skipped',
      'sandbox started (docker) for key range 2',
      'batch 3: 40 rows + 40 mappings committed (key range 2) (120/1000) · 120/1,000 rows (12%) · 812 rows/s · ETA 2m',
      '│ harness: ready',
      "mentor_ref: second pass set 17 reference(s) through this table's mappings; 2 orphan(s) left NULL",
      'finished: failed',
    ]);
    // Recorded by an older or newer ferry: unknown types are skipped, old batches lack progress.
    expect(describeRunEvent({ type: 'checkpoint_taken' })).toBeNull();
    expect(describeRunEvent({ type: 'batch_committed', batch: 1, rows: 31, inserted: 31, toMigrate: 31 })).toBe('batch 1: 31 rows + 31 mappings committed (31/31)');
  });

  it('the review page formats events as the presenter does', () => {
    const source = readFileSync(resolve(__dirname, '../../src/review/page/app.js'), 'utf8');
    const from = source.indexOf('function progressText(');
    const to = source.indexOf('async function showRun(');
    expect(from).toBeGreaterThan(0);
    const pageEventLine = new Function(`${source.slice(from, to)}; return eventLine;`)() as (e: unknown) => string | null;
    for (const e of events.filter((x) => x.type !== 'log')) expect(pageEventLine(e)).toBe(describeRunEvent(e));
  });

  it('prints a live run with icons, thinning batches after the first twenty', () => {
    const lines: string[] = [];
    let clock = 0;
    const print = runEventPrinter((l) => lines.push(l), { everyMs: 2000, now: () => clock });
    for (let n = 1; n <= 25; n++) {
      clock += 100;
      print(batch(n, n * 30));
    }
    print(batch(26, 1000));
    expect(lines.filter((l) => l.startsWith('💾 batch')).map((l) => Number(/batch (\d+)/.exec(l)![1]))).toEqual([...Array(20).keys()].map((i) => i + 1).concat([26]));
    print({ type: 'log', line: 'ok', stream: 'stdout' });
    expect(lines.at(-1)).toBe('   │ ok');
    expect(sandboxChoiceLine({ weaker: true, detail: 'no daemon' })).toBe('⚠ WEAKER SANDBOX — no daemon');
  });
});
