import { describe, expect, it } from 'vitest';
import { escapeValueGlob, parseValueGlob } from '../../src/core/glob.js';
import { describePlanFilters, filterWhere } from '../../src/core/plan/filter-sql.js';
import { checkExpr, parseExpression } from '../../src/core/expr/index.js';
import { shellWord } from '../../src/core/artifacts/migration-plan.js';

describe('value globs', () => {
  it('* is any run (none included), ? exactly one character, by code point', () => {
    const g = parseValueGlob('MT-*');
    expect(g.wildcard).toBe(true);
    expect(['MT-', 'MT-Polishing', 'MT-a-b'].every(g.test)).toBe(true);
    expect(['mt-Polishing', 'XMT-', 'MT'].some(g.test)).toBe(false);
    const q = parseValueGlob('?-x');
    expect(q.test('😀-x')).toBe(true);
    expect(q.test('ab-x')).toBe(false);
  });

  it('regex characters are literal; \\* \\? \\\\ are the characters themselves; other backslashes stay', () => {
    expect(parseValueGlob('a.b').test('axb')).toBe(false);
    expect(parseValueGlob('(x)+[y]').test('(x)+[y]')).toBe(true);
    const lit = parseValueGlob('MT\\*Special');
    expect(lit).toMatchObject({ wildcard: false, literal: 'MT*Special' });
    expect(parseValueGlob('C:\\dir').literal).toBe('C:\\dir');
    expect(parseValueGlob('a\\\\b').literal).toBe('a\\b');
  });

  it('escapeValueGlob writes any value so the glob reads back exactly it', () => {
    for (const v of ['MT*Special', 'what?', 'back\\slash', 'a\\*b', '*', 'plain', '']) {
      const g = parseValueGlob(escapeValueGlob(v));
      expect(g.wildcard).toBe(false);
      expect(g.literal).toBe(v);
    }
  });

  it('shellWord leaves plain words bare and single-quotes the rest', () => {
    expect(shellWord('MT-Polishing')).toBe('MT-Polishing');
    expect(shellWord("it's $HOME")).toBe(`'it'\\''s $HOME'`);
  });
});

describe("a plan's filter as SQL", () => {
  it('exclusions keep NULL rows; predicates compile through the column language over the named row', async () => {
    const expr = checkExpr(await parseExpression("lower(trade) <> 'volunteer' AND started IS NOT NULL"), { columns: { trade: 'text', started: 'date' } });
    const w = filterWhere(
      [
        { column: 'grp', op: '=', value: 11 },
        { op: 'exclude', column: 'trade', values: ['Volunteer', 'Intern'] },
        { column: 'trade', op: 'is_not_null' },
        { op: 'where', predicate: { source: "lower(trade) <> 'volunteer' AND started IS NOT NULL", expr } },
      ],
      { rowAlias: 'src', offset: 2 },
    );
    expect(w.params).toEqual([11, ['Volunteer', 'Intern']]);
    expect(w.sql).toBe(
      'WHERE "src"."grp" = $3 AND ("src"."trade" IS NULL OR NOT ("src"."trade"::text = ANY($4::text[]))) AND "src"."trade" IS NOT NULL AND ' +
        `(((lower("src"."trade" COLLATE pg_c_utf8) COLLATE "C" <> CAST('volunteer' AS text)) AND ("src"."started" IS NOT NULL)))`,
    );
    expect(filterWhere([], { rowAlias: 'src' })).toEqual({ sql: '', params: [] });
  });

  it('refuses a predicate that was never checked to be boolean', async () => {
    const expr = await parseExpression('trade');
    expect(() => filterWhere([{ op: 'where', predicate: { source: 'trade', expr } }], { rowAlias: 't' })).toThrow(/not a checked boolean/);
  });

  it('describes each condition for ferry show', () => {
    expect(describePlanFilters([{ op: 'exclude', column: 'trade', values: ['Volunteer'] }, { column: 'trade', op: 'is_not_null' }])).toBe('trade NOT IN ("Volunteer") (NULL kept) AND trade IS NOT NULL');
  });
});
