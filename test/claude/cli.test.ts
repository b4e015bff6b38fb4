import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { COLUMNS_TOOL, INTENT_TOOL } from '../../agents/planning/claude/index.js';
import { createSeedCase, type SeedCase } from '../setup/seed-case.js';
import { fixture, startFakeAnthropic, toolUse } from './fake-anthropic.js';

const FREE_FORM = "move group 11's roles over, technicians only, keep the old ids, everything active";

describe('ferry plan with --llm and --replay', () => {
  let seed: SeedCase;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const ferry = (extra: NodeJS.ProcessEnv, ...args: string[]) => runFerry({ ...env, ...extra }, args);

  beforeAll(async () => {
    seed = await createSeedCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-claude-cli-'));
    env = cliEnv({ sourceUrl: seed.legacy.url, targetUrl: seed.target.url }, home, 'cli-test');
  });
  afterAll(async () => {
    await seed?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('plans free-form words with a key, prints model, tokens and cost, keeps the exchange, and replays it offline', async () => {
    const fake = await startFakeAnthropic([toolUse(INTENT_TOOL, fixture('roles-intent.json')), toolUse(COLUMNS_TOOL, fixture('roles-columns.json'))]);
    const out = join(home, 'roles.json');
    let r;
    try {
      r = await ferry({ ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: fake.baseURL }, 'plan', FREE_FORM, '--out', out);
    } finally {
      await fake.close();
    }
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/claude-sonnet-5-5: 2 request\(s\), 2400 input \+ 600 output tokens, ≈ \$0\.0108/);
    const transcript = JSON.parse(await readFile(join(home, 'roles.model.json'), 'utf8')) as { exchanges: unknown[] };
    expect(transcript.exchanges).toHaveLength(2);
    const live = JSON.parse(await readFile(out, 'utf8')) as { createdAt: string; generator: { kind: string } };
    expect(live.generator.kind).toBe('claude');

    // The API is gone: the replay answers from the transcript, and gives the same plan.
    const again = join(home, 'roles-again.json');
    const replay = await ferry({}, 'plan', '--replay', join(home, 'roles.model.json'), '--out', again);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/replayed from the transcript, no network/);
    const replayed = JSON.parse(await readFile(again, 'utf8')) as typeof live & { revision: number; overrides: Array<{ what: string }> };
    // The same plan; the run store keeps it as the next revision of that plan, saying so.
    expect(replayed.revision).toBe(2);
    expect(replayed.overrides.at(-1)?.what).toMatch(/planned again from the description/);
    // (The readings' dates are when each was read: the replay reads again.)
    const same = (p: typeof replayed) => JSON.parse(JSON.stringify({ ...p, createdAt: '', revision: 0, overrides: [] }).replace(/"readAt":"[^"]*"/g, '"readAt":""').replace(/"hash":"[0-9a-f]{64}"/g, '"hash":""')) as unknown;
    expect(same(replayed)).toEqual(same({ ...live, revision: 1, overrides: [] }));
  });

  it('without a key plans with the rules, and a description they cannot read says what and how', async () => {
    const r = await ferry({}, 'plan', "move group 11's roles over");
    expect(r.code).toBe(2);
    // The words it read, and why, rather than "could not tell which source table" (issue 15).
    expect(r.stderr).toMatch(/DESCRIPTION_NOT_UNDERSTOOD: read "group" as the source table because it follows "move", but the source database has no table "group"; closest: dispatch_group/);
    expect(r.stderr).toMatch(/from dispatch_role into technician_roles/);
    // With instructions after commas, the words read as the table are still named.
    const listed = await ferry({}, 'plan', FREE_FORM);
    expect(listed.code).toBe(2);
    expect(listed.stderr).toMatch(/DESCRIPTION_NOT_UNDERSTOOD: read "group" as the source table because it follows "move"/);
    const asked = await ferry({}, 'plan', '--llm', 'claude', FREE_FORM);
    expect(asked.code).toBe(2);
    expect(asked.stderr).toMatch(/MODEL_NOT_CONFIGURED/);
    const bad = await ferry({}, 'plan', '--llm', 'gpt', FREE_FORM);
    expect(bad.stderr).toMatch(/FLAG_INVALID: --llm takes "claude" or "off"/);
  });
});
