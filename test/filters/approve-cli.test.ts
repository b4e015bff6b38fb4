import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { DatabasePair } from '../setup/seed-case.js';
import { cliEnv, runFerry } from '../setup/ferry-bin.js';
import { createWorkshopCase, WORKSHOP_DESCRIPTION } from './workshop-case.js';

/** The approve flags as a person types them: the ferry binary, its own parsing, the plan file it writes, ferry show. */
describe('ferry approve --map <glob> / --map-null / --exclude / --exclude-null / --where', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;
  const ferry = (...args: string[]) => runFerry(env, args);
  beforeAll(async () => {
    db = await createWorkshopCase();
    home = await mkdtemp(join(tmpdir(), 'ferry-filters-cli-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'cli-test');
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('refuses --map "=…" pointing at --map-null, then narrows, maps by glob, shows the filter and approves', async () => {
    const planned = await ferry('plan', WORKSHOP_DESCRIPTION);
    expect(planned.code).toBe(0);
    const planPath = /Plan written to (\S+\.json)/.exec(planned.stdout)![1]!;
    expect(planned.stdout).toContain('--map-null craft=<manufacturing|logistics|office>');

    const empty = await ferry('approve', planPath, '--map', '=office');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('FLAG_INVALID');
    expect(empty.stderr).toContain('--map-null office');

    const decided = await ferry(
      'approve', planPath,
      '--map', 'MT-*=manufacturing', '--map', 'MT\\*Special=office',
      '--exclude', 'Volunteer', '--exclude-null', 'trade',
      '--where', "started >= '2015-06-01' OR site.site_name = 'South hall'",
    );
    expect(decided.stderr).toBe('');
    expect(decided.code).toBe(0);
    expect(decided.stdout).toContain('craft: "MT-*" → manufacturing for 16 flagged value(s): "MT-Anodizing"');
    expect(decided.stdout).toContain('craft: "MT*Special" → office (was unresolved)');
    expect(decided.stdout).toContain('rows to move: 40 → 30');
    expect(decided.stdout).toContain('approved by cli-test');
    const plan = MigrationPlan.parse(JSON.parse(await readFile(planPath, 'utf8')));
    expect(plan).toMatchObject({ status: 'approved', revision: 2, source: { rowCount: 30 } });

    const shown = await ferry('show', planPath);
    expect(shown.stdout).toContain(`[trade NOT IN ("Volunteer") (NULL kept) AND trade IS NOT NULL AND (started >= '2015-06-01' OR site.site_name = 'South hall')]`);
  });
});
