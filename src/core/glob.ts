/**
 * The globs a reviewer writes over source values (`--map "MT-*=manufacturing"`): `*` is any run
 * of characters (none included), `?` exactly one; `\*`, `\?` and `\\` are those characters
 * themselves. A backslash before anything else is a backslash. Matching is on whole values,
 * case-sensitive, by Unicode code point.
 */
export interface ValueGlob {
  /** The pattern as written. */
  pattern: string;
  /** Whether it has an unescaped * or ?: without one it names one value (its unescaped text). */
  wildcard: boolean;
  /** The value it names when it has no wildcard. */
  literal: string;
  test(value: string): boolean;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

export function parseValueGlob(pattern: string): ValueGlob {
  let source = '';
  let literal = '';
  let wildcard = false;
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    const after = chars[i + 1];
    if (ch === '\\' && (after === '*' || after === '?' || after === '\\')) {
      source += after.replace(REGEX_SPECIAL, '\\$&');
      literal += after;
      i += 1;
    } else if (ch === '*' || ch === '?') {
      wildcard = true;
      source += ch === '*' ? '[^]*' : '[^]';
    } else {
      source += ch.replace(REGEX_SPECIAL, '\\$&');
      literal += ch;
    }
  }
  const re = new RegExp(`^${source}$`, 'u');
  return { pattern, wildcard, literal, test: (value) => re.test(value) };
}

/** A value written so that parseValueGlob reads it back as exactly that value. */
export function escapeValueGlob(value: string): string {
  return value.replace(/[\\*?]/g, '\\$&');
}
