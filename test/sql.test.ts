import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { escapeIdentifier, escapeLiteral } from '../src/core/pg-escape.js';
import { buildWhere, describeFilters, qualified, quoteIdent } from '../src/core/sql.js';

describe('SQL building', () => {
  it('quotes identifiers so that names which look like SQL stay names', () => {
    expect(quoteIdent('order')).toBe('"order"');
    expect(quoteIdent('x"; DROP TABLE profiles; --')).toBe('"x""; DROP TABLE profiles; --"');
    expect(qualified('public', 'dispatch_role')).toBe('"public"."dispatch_role"');
  });

  it('turns a filter into parameters, never into inline values', () => {
    const w = buildWhere(
      [
        { column: 'group_id', op: '=', value: 11 },
        { column: 'name', op: 'in', value: ["a'b", 'c'] },
        { column: 'abbrev', op: 'is_not_null' },
      ],
      1,
    );
    expect(w.sql).toBe('WHERE "group_id" = $2 AND "name" IN ($3, $4) AND "abbrev" IS NOT NULL');
    expect(w.params).toEqual([11, "a'b", 'c']);
    expect(buildWhere([]).sql).toBe('');
  });

  it('describes a filter in words', () => {
    expect(describeFilters([{ column: 'group_id', op: '=', value: 11 }])).toBe('group_id = 11');
    expect(describeFilters([])).toBe('all rows');
  });
});

// ferry's copies of pg's quoting (kept so quoting SQL loads no pg) against pg's own, installed version.
describe('quoting as pg quotes', () => {
  const pg = createRequire(import.meta.url)('pg/lib/utils.js') as { escapeIdentifier(s: string): string; escapeLiteral(s: string): string };
  const dirty = ['', 'plain', "O'Brien", "''", '"quoted"', 'back\\slash', "both ' and \\", 'trailing\\', 'ünïcödé ✓ 🚚', 'tab\tnew\nline', '\u0000nul', 'x"; DROP TABLE t; --', "E'\\x'", '$$dollar$$'];
  it('escapeIdentifier and escapeLiteral give exactly what pg gives', () => {
    for (const s of dirty) {
      expect(escapeIdentifier(s), s).toBe(pg.escapeIdentifier(s));
      expect(escapeLiteral(s), s).toBe(pg.escapeLiteral(s));
    }
    // The cases that matter are really among them: a backslash makes an E'' literal.
    expect(escapeLiteral('a\\b')).toBe(" E'a\\\\b'");
    expect(escapeLiteral("a'b")).toBe("'a''b'");
  });
});
