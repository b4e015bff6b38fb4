import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILMS_SOURCE, FILMS_TARGET } from '../descriptions/schemas.js';
import { dockerDriverForTests } from '../setup/docker.js';
import { cliEnv, planApproveRun, runFerry } from '../setup/ferry-bin.js';
import { createDatabasePair, runScript, type DatabasePair } from '../setup/seed-case.js';

/**
 * Pagila's film table (a year domain, an mpaa_rating enum no rule maps, smallint, text[], a
 * char(20) parent) moved into a schema whose columns were renamed, from one plain description,
 * as a new user would: the renames and value maps it says are applied to the plan (shown as
 * "set by the description"), the rating enum is fed by film.rating (not film.title, which came
 * first with the same zero coverage), and the run validates.
 */
const DESCRIPTION =
  'Move every film into movies: description as synopsis, release_year as released_in, rental_duration becomes rental_days, ' +
  'rental_rate → rental_price, rename length to runtime_minutes, replacement_cost goes to replacement_price, special_features as features, ' +
  'last_update as updated_at; map G to general, PG to parental_guidance, PG-13 to parents_strongly_cautioned, R to restricted and NC-17 to adults_only';

describe('Pagila films into a renamed schema, from one description', () => {
  let db: DatabasePair;
  let home: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await dockerDriverForTests();
    db = await createDatabasePair('pagila_', { legacy: (url) => runScript(url, FILMS_SOURCE), target: (url) => runScript(url, FILMS_TARGET) });
    home = await mkdtemp(join(tmpdir(), 'ferry-pagila-'));
    env = cliEnv({ sourceUrl: db.legacy.url, targetUrl: db.target.url }, home, 'pagila-tester');
    await planApproveRun(env, 'Move every language into languages');
  });
  afterAll(async () => {
    await db?.drop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('plans every rename and value map the description says, leaves nothing to decide, runs and validates', async () => {
    const planned = await runFerry(env, ['plan', DESCRIPTION]);
    expect(planned.code, planned.stderr).toBe(0);
    const out = planned.stdout;
    for (const [target, source] of [
      ['synopsis', 'description'],
      ['released_in', 'release_year'],
      ['rental_days', 'rental_duration'],
      ['rental_price', 'rental_rate'],
      ['runtime_minutes', 'length'],
      ['replacement_price', 'replacement_cost'],
      ['features', 'special_features'],
      ['updated_at', 'last_update'],
    ]) {
      expect(out).toMatch(new RegExp(`\\n  ${target}\\s+\\S.*copy ${source}\\s+1\\.00  set by the description`));
    }
    expect(out).toContain('Enum mapping: rating → rating (public.content_rating)');
    expect(out).not.toContain('UNREAD');
    const planPath = /written to (\S+\.json)/.exec(out)![1]!;
    // Nothing left to decide: the description said it all.
    expect(out).toContain('Nothing needs review');
    const approved = await runFerry(env, ['approve', planPath]);
    expect(approved.code, approved.stdout + approved.stderr).toBe(0);
    const ran = await runFerry(env, ['run', planPath]);
    expect(ran.code, ran.stdout + ran.stderr).toBe(0);
    expect(ran.stdout).toContain('ALL VALIDATIONS PASSED');

    const rows = await db.sql(
      'target',
      `SELECT m.legacy_film_id AS k, m.synopsis, m.released_in, l.name AS lang, o.name AS orig, m.rental_days, m.rental_price::text, m.runtime_minutes, m.rating::text, m.features
         FROM movies m JOIN languages l ON l.id = m.language_id LEFT JOIN languages o ON o.id = m.original_language_id ORDER BY 1`,
    );
    expect(rows.rows).toEqual([
      { k: 1, synopsis: 'A Epic Drama of a Feminist', released_in: 2012, lang: 'English', orig: null, rental_days: 6, rental_price: '0.99', runtime_minutes: 86, rating: 'parental_guidance', features: ['Deleted Scenes'] },
      { k: 2, synopsis: 'A Astounding Epistle', released_in: 2012, lang: 'English', orig: 'Japanese', rental_days: 3, rental_price: '4.99', runtime_minutes: 48, rating: 'general', features: ['Trailers'] },
      { k: 3, synopsis: null, released_in: null, lang: 'Italian', orig: null, rental_days: 7, rental_price: '2.99', runtime_minutes: 50, rating: 'adults_only', features: null },
      { k: 4, synopsis: 'A Intrepid Panorama', released_in: 2006, lang: 'English', orig: null, rental_days: 3, rental_price: '2.99', runtime_minutes: null, rating: 'parents_strongly_cautioned', features: [] },
      { k: 5, synopsis: 'A Touching Saga', released_in: 2006, lang: 'Mandarin', orig: 'Italian', rental_days: 6, rental_price: '4.99', runtime_minutes: 62, rating: 'restricted', features: ['Commentaries'] },
    ]);
  });

  it('a rename no copy or cast can make is not applied: its words wait for review, saying why', async () => {
    const planned = await runFerry(env, ['plan', 'Move every film into movies, title as released_in']);
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(/"title as released_in" → UNREAD: title \(character varying\(255\)\) cannot become released_in \(integer\)/);
    expect(planned.stdout).not.toMatch(/released_in\s+integer\s+copy title/);
  });
});
