/**
 * JSON text read the way PostgreSQL's jsonb `=` compares it, without JavaScript numbers on the
 * way: numbers as exact decimals (1.10 equals 1.1, 12345678901234567890 keeps every digit,
 * -0 equals 0), object keys sorted with the last of duplicate keys kept (as jsonb stores
 * them), strings by their decoded characters. Returns a canonical text for equality only, or
 * undefined for text that is not JSON.
 */
export function jsonbCanonical(text: string): string | undefined {
  const p = { s: text, i: 0 };
  try {
    const v = value(p);
    skipSpace(p);
    return p.i === text.length ? v : undefined;
  } catch {
    return undefined;
  }
}

interface Cursor {
  s: string;
  i: number;
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/y;
const LITERAL = /true|false|null/y;

function skipSpace(p: Cursor): void {
  while (p.i < p.s.length && ' \t\n\r'.includes(p.s[p.i]!)) p.i += 1;
}

function match(p: Cursor, re: RegExp): RegExpExecArray | null {
  re.lastIndex = p.i;
  const m = re.exec(p.s);
  if (m) p.i = re.lastIndex;
  return m;
}

function expect(p: Cursor, c: string): void {
  skipSpace(p);
  if (p.s[p.i] !== c) throw new SyntaxError(`expected ${c} at ${p.i}`);
  p.i += 1;
}

function value(p: Cursor): string {
  skipSpace(p);
  const c = p.s[p.i];
  if (c === '{') return object(p);
  if (c === '[') return array(p);
  const str = match(p, STRING);
  if (str) return JSON.stringify(JSON.parse(str[0]) as string);
  const num = match(p, NUMBER);
  if (num) return decimal(num[1] === '-', num[2]!, num[3] ?? '', num[4] ?? '0');
  const lit = match(p, LITERAL);
  if (lit) return lit[0];
  throw new SyntaxError(`unexpected input at ${p.i}`);
}

function object(p: Cursor): string {
  expect(p, '{');
  const members = new Map<string, string>();
  skipSpace(p);
  if (p.s[p.i] === '}') {
    p.i += 1;
    return '{}';
  }
  for (;;) {
    skipSpace(p);
    const key = match(p, STRING);
    if (!key) throw new SyntaxError(`expected a key at ${p.i}`);
    expect(p, ':');
    // Later duplicates replace earlier ones, as jsonb keeps the last.
    members.set(JSON.parse(key[0]) as string, value(p));
    skipSpace(p);
    if (p.s[p.i] === ',') p.i += 1;
    else break;
  }
  expect(p, '}');
  const keys = [...members.keys()].sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${members.get(k)}`).join(',')}}`;
}

function array(p: Cursor): string {
  expect(p, '[');
  const items: string[] = [];
  skipSpace(p);
  if (p.s[p.i] === ']') {
    p.i += 1;
    return '[]';
  }
  for (;;) {
    items.push(value(p));
    skipSpace(p);
    if (p.s[p.i] === ',') p.i += 1;
    else break;
  }
  expect(p, ']');
  return `[${items.join(',')}]`;
}

/** A decimal as significant digits and exponent: equal numbers, equal text (0 has no sign). */
function decimal(negative: boolean, int: string, frac: string, exp: string): string {
  let digits = (int + frac).replace(/^0+/, '');
  if (digits === '') return '0';
  let e = BigInt(exp) - BigInt(frac.length);
  const trimmed = digits.replace(/0+$/, '');
  e += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return `${negative ? '-' : ''}${digits}e${e}`;
}
