/**
 * The column language's semantics in plain TypeScript, for the sandbox program: this file is
 * inlined into every generated program that uses an expression (it imports nothing; its types
 * as written, the library below the marker wrapped by `runtimeSource()` into one top-level
 * value, `pg`), and runs on plain Node 18.
 *
 * Every function follows PostgreSQL 17 with the session TimeZone set to UTC and DateStyle ISO
 * (validation sets both), and the conformance suite (test/expr/conformance.test.ts) holds the
 * two to the same answers. Values, by type:
 *   text, uuid (lower case, hyphenated), date (YYYY-MM-DD), timestamp / timestamptz (PostgreSQL's
 *   ISO output, `+00` for timestamptz): string; integer: number; bigint: bigint; numeric: a
 *   decimal string keeping its scale ("1.50"), computed with BigInt, never a float;
 *   boolean: boolean; SQL NULL: null.
 * Errors are `pg.Error` with PostgreSQL's SQLSTATE and message.
 */
export type PgScalar = 'text' | 'integer' | 'bigint' | 'numeric' | 'boolean' | 'date' | 'timestamp' | 'timestamptz' | 'uuid' | 'unknown';
export type PgValue = string | number | bigint | boolean | null;
export interface PgCastTarget {
  type: 'text' | 'integer' | 'bigint' | 'numeric' | 'boolean' | 'date' | 'timestamptz' | 'uuid';
  precision?: number;
  scale?: number;
}

// ---- the library: runtimeSource() inlines everything below inside `export const pg = (() => { … return api; })();`,
// one top-level value in the program so that the runtime's names cannot collide with the program's.

class PgError extends Error {
  readonly sqlstate: string;
  constructor(sqlstate: string, message: string) {
    super(message);
    this.name = 'PgError';
    this.sqlstate = sqlstate;
  }
}
const fail = (sqlstate: string, message: string): never => {
  throw new PgError(sqlstate, message);
};

const INT4_MIN = -2147483648n;
const INT4_MAX = 2147483647n;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
/** PostgreSQL's numeric: at most 131072 digits before the point, 16383 after. */
const NUMERIC_MAX_INT_DIGITS = 131072;

const int4 = (v: bigint): number => (v < INT4_MIN || v > INT4_MAX ? fail('22003', 'integer out of range') : Number(v));
const int8 = (v: bigint): bigint => (v < INT8_MIN || v > INT8_MAX ? fail('22003', 'bigint out of range') : v);

// ---- numeric: { u, s } is u / 10^s ------------------------------------------------------
interface Num {
  u: bigint;
  s: number;
}
const pow10 = (n: number): bigint => 10n ** BigInt(n);
const abs = (v: bigint): bigint => (v < 0n ? -v : v);
const numParse = (text: string): Num => {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return fail('XX000', `not a numeric value: ${JSON.stringify(text)}`);
  const frac = m[3] ?? '';
  const u = BigInt(m[2]! + frac);
  return { u: m[1] === '-' ? -u : u, s: frac.length };
};
const numFormat = (n: Num): string => {
  const digits = abs(n.u).toString().padStart(n.s + 1, '0');
  const intDigits = digits.slice(0, digits.length - n.s);
  if (intDigits.replace(/^0+/, '').length > NUMERIC_MAX_INT_DIGITS) fail('22003', 'value overflows numeric format');
  const body = n.s > 0 ? `${intDigits}.${digits.slice(digits.length - n.s)}` : intDigits;
  return n.u < 0n ? `-${body}` : body;
};
const rescale = (n: Num, s: number): bigint => (s >= n.s ? n.u * pow10(s - n.s) : n.u / pow10(n.s - s));
/** Rounds to `s` decimals, half away from zero (PostgreSQL's round_var); `s` may be negative. */
const numRound = (n: Num, s: number): Num => {
  if (s >= n.s) return { u: n.u * pow10(s - n.s), s: Math.max(s, 0) };
  const drop = pow10(n.s - s);
  let q = abs(n.u) / drop;
  if ((abs(n.u) % drop) * 2n >= drop) q += 1n;
  const u = n.u < 0n ? -q : q;
  return s >= 0 ? { u, s } : { u: u * pow10(-s), s: 0 };
};
/** Base-10000 weight and first digit, as numeric.c's select_div_scale reads them. */
const weightAndFirst = (n: Num): [number, bigint] => {
  if (n.u === 0n) return [0, 0n];
  const groupsAfter = Math.ceil(n.s / 4);
  let v = abs(n.u) * pow10(groupsAfter * 4 - n.s);
  let count = 0;
  let first = 0n;
  while (v > 0n) {
    first = v % 10000n;
    v /= 10000n;
    count += 1;
  }
  return [count - 1 - groupsAfter, first];
};
const numDiv = (a: Num, b: Num): Num => {
  if (b.u === 0n) fail('22012', 'division by zero');
  const [w1, f1] = weightAndFirst(a);
  const [w2, f2] = weightAndFirst(b);
  let qweight = w1 - w2;
  if (f1 <= f2) qweight -= 1;
  let rscale = 16 - qweight * 4;
  rscale = Math.min(Math.max(rscale, a.s, b.s, 0), 1000);
  // a/b at rscale+1 digits, then round half away from zero to rscale.
  const num = a.u * pow10(rscale + 1 + b.s);
  const den = b.u * pow10(a.s);
  return numRound({ u: num / den, s: rscale + 1 }, rscale);
};
const numMod = (a: Num, b: Num): Num => {
  if (b.u === 0n) fail('22012', 'division by zero');
  const s = Math.max(a.s, b.s);
  return { u: rescale(a, s) % rescale(b, s), s };
};
const numArith = (op: string, a: Num, b: Num): Num => {
  const s = Math.max(a.s, b.s);
  switch (op) {
    case '+':
      return { u: rescale(a, s) + rescale(b, s), s };
    case '-':
      return { u: rescale(a, s) - rescale(b, s), s };
    case '*':
      return { u: a.u * b.u, s: a.s + b.s };
    case '/':
      return numDiv(a, b);
    default:
      return numMod(a, b);
  }
};
const numCompare = (a: Num, b: Num): number => {
  const s = Math.max(a.s, b.s);
  const d = rescale(a, s) - rescale(b, s);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};
/** numeric(p,s): round to s, then the integer part must fit in p - s digits. */
const numTypmod = (n: Num, precision: number, scale: number): Num => {
  const r = numRound(n, scale);
  const limit = pow10(precision - scale);
  if (abs(r.u) / pow10(r.s) >= limit) fail('22003', 'numeric field overflow');
  return r;
};

// ---- text input rules -------------------------------------------------------------------
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
const trimSpace = (s: string): string => {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a]!)) a++;
  while (b > a && isSpace(s[b - 1]!)) b--;
  return s.slice(a, b);
};
/** Digits of one base with single underscores between them (PostgreSQL 16+). */
const digitRun = (body: string, digit: RegExp): boolean => new RegExp(`^${digit.source}+(_${digit.source}+)*$`).test(body);
/** int4in / int8in: whitespace, sign, decimal or 0x / 0o / 0b, underscores between digits. */
const parseInteger = (text: string, typeName: 'integer' | 'bigint'): bigint => {
  const t = trimSpace(text);
  const m = /^([+-]?)(0[xX]|0[oO]|0[bB])?(.*)$/s.exec(t)!;
  const prefix = (m[2] ?? '').toLowerCase();
  const body = m[3]!;
  const digit = prefix === '0x' ? /[0-9a-fA-F]/ : prefix === '0o' ? /[0-7]/ : prefix === '0b' ? /[01]/ : /[0-9]/;
  const ok = prefix === '' ? digitRun(body, digit) : /^_?/.test(body) && digitRun(body.replace(/^_/, ''), digit);
  if (!ok) fail('22P02', `invalid input syntax for type ${typeName}: "${text}"`);
  const clean = body.replace(/_/g, '');
  const magnitude = prefix === '' ? BigInt(clean) : BigInt(`${prefix}${clean}`);
  const v = m[1] === '-' ? -magnitude : magnitude;
  const [lo, hi] = typeName === 'integer' ? [INT4_MIN, INT4_MAX] : [INT8_MIN, INT8_MAX];
  if (v < lo || v > hi) fail('22003', `value "${text}" is out of range for type ${typeName}`);
  return v;
};
/** numeric_in, without NaN and Infinity, which the language refuses on both sides. */
const parseNumeric = (text: string): Num => {
  const t = trimSpace(text);
  const bad = (): never => fail('22P02', `invalid input syntax for type numeric: "${text}"`);
  const special = /^[+-]?(nan|inf)/i.test(t);
  if (special) bad();
  const radix = /^([+-]?)(0[xX]|0[oO]|0[bB])(.*)$/s.exec(t);
  if (radix) {
    const prefix = radix[2]!.toLowerCase();
    const digit = prefix === '0x' ? /[0-9a-fA-F]/ : prefix === '0o' ? /[0-7]/ : /[01]/;
    const body = radix[3]!.replace(/^_/, '');
    if (!digitRun(body, digit)) bad();
    const v = BigInt(`${prefix}${body.replace(/_/g, '')}`);
    return { u: radix[1] === '-' ? -v : v, s: 0 };
  }
  const m = /^([+-]?)(\d+(?:_\d+)*)?(?:\.(\d+(?:_\d+)*)?)?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m || (m[2] === undefined && m[3] === undefined)) return bad();
  const intPart = (m[2] ?? '').replace(/_/g, '');
  const frac = (m[3] ?? '').replace(/_/g, '');
  if (m[2] === undefined && !t.includes('.')) bad();
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 1000 * 1000) fail('22P02', `invalid input syntax for type numeric: "${text}"`);
  let u = BigInt((intPart || '0') + frac);
  let s = frac.length - exp;
  if (s < 0) {
    u *= pow10(-s);
    s = 0;
  }
  if (m[1] === '-') u = -u;
  return { u, s };
};
const parseBool = (text: string): boolean => {
  const t = trimSpace(text).toLowerCase();
  const prefixOf = (word: string, min = 1): boolean => t.length >= min && word.startsWith(t);
  if (prefixOf('true') || prefixOf('yes') || prefixOf('on', 2) || t === '1') return true;
  if (prefixOf('false') || prefixOf('no') || prefixOf('off', 2) || t === '0') return false;
  return fail('22P02', `invalid input syntax for type boolean: "${text}"`);
};
const HEX = /^[0-9a-fA-F]{2}/;
/** uuid_in: 32 hex digits, a hyphen allowed after any group of four, optional braces. */
const parseUuid = (text: string): string => {
  const bad = (): never => fail('22P02', `invalid input syntax for type uuid: "${text}"`);
  let p = 0;
  const braces = text[0] === '{';
  if (braces) p++;
  let hex = '';
  for (let i = 0; i < 16; i++) {
    const pair = text.slice(p, p + 2);
    if (!HEX.test(pair)) bad();
    hex += pair.toLowerCase();
    p += 2;
    if (text[p] === '-' && i % 2 === 1 && i < 15) p++;
  }
  if (braces) {
    if (text[p] !== '}') bad();
    p++;
  }
  if (p !== text.length) bad();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

// ---- dates and times: proleptic Gregorian, microseconds since 1970 in UTC -----------------
// The ISO forms compile-sql.ts guards with DATE_PATTERN / TIMESTAMP_PATTERN; whitespace is C's isspace.
const DATE_TEXT = /^[ \t\n\r\v\f]*([0-9]{4})-([0-9]{2})-([0-9]{2})[ \t\n\r\v\f]*$/;
const TIMESTAMP_TEXT = /^[ \t\n\r\v\f]*([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?(Z|[+-][0-9]{2}(?::[0-9]{2})?)?[ \t\n\r\v\f]*$/;
const daysFromCivil = (y: number, m: number, d: number): number => {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
};
const civilFromDays = (z0: number): [number, number, number] => {
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d];
};
const daysInMonth = (y: number, m: number): number =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;
const pad = (n: number, w: number): string => String(n).padStart(w, '0');
const formatDate = (days: number): string => {
  const [y, m, d] = civilFromDays(days);
  return y > 0 ? `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}` : `${pad(1 - y, 4)}-${pad(m, 2)}-${pad(d, 2)} BC`;
};
const DAY_US = 86_400_000_000n;
const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const formatTimestamp = (us: bigint, zone: boolean): string => {
  const days = floorDiv(us, DAY_US);
  let rest = us - days * DAY_US;
  const micro = Number(rest % 1_000_000n);
  rest /= 1_000_000n;
  const sec = Number(rest % 60n);
  const min = Number((rest / 60n) % 60n);
  const hour = Number(rest / 3600n);
  const date = formatDate(Number(days));
  const bc = date.endsWith(' BC');
  const frac = micro === 0 ? '' : `.${pad(micro, 6).replace(/0+$/, '')}`;
  return `${bc ? date.slice(0, -3) : date} ${pad(hour, 2)}:${pad(min, 2)}:${pad(sec, 2)}${frac}${zone ? '+00' : ''}${bc ? ' BC' : ''}`;
};
const checkDate = (text: string, y: number, m: number, d: number): number => {
  if (y === 0 || m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) fail('22008', `date/time field value out of range: "${text}"`);
  return daysFromCivil(y, m, d);
};
const parseDate = (text: string): number => {
  const m = DATE_TEXT.exec(text);
  if (!m) return fail('22007', `invalid input syntax for type date: "not ISO 8601: ${text}"`);
  return checkDate(text, Number(m[1]), Number(m[2]), Number(m[3]));
};
/** ISO 8601 text to microseconds; a value without an offset is UTC (the session TimeZone). */
const parseTimestamp = (text: string, typeName: 'timestamp with time zone' | 'timestamp without time zone'): bigint => {
  const m = TIMESTAMP_TEXT.exec(text);
  if (!m) return fail('22007', `invalid input syntax for type ${typeName}: "not ISO 8601: ${text}"`);
  const days = checkDate(text, Number(m[1]), Number(m[2]), Number(m[3]));
  const hour = Number(m[4] ?? 0);
  const min = Number(m[5] ?? 0);
  const sec = Number(m[6] ?? 0);
  const micro = Number((m[7] ?? '').padEnd(6, '0'));
  if (hour > 24 || min > 59 || sec > 60 || (hour === 24 && (min > 0 || sec > 0 || micro > 0))) fail('22008', `date/time field value out of range: "${text}"`);
  let offsetSec = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && typeName === 'timestamp with time zone') {
    const sign = zone[0] === '-' ? -1 : 1;
    const zh = Number(zone.slice(1, 3));
    const zm = zone.length > 3 ? Number(zone.slice(4, 6)) : 0;
    // DecodeTimezone: hours past 15 or minutes past 59 are a displacement overflow (22009).
    if (zh > 15 || zm > 59) fail('22009', `time zone displacement out of range: "${text}"`);
    offsetSec = sign * (zh * 3600 + zm * 60);
  }
  return BigInt(days) * DAY_US + BigInt((hour * 3600 + min * 60 + sec - offsetSec) * 1_000_000 + micro);
};
/** A timestamp value (PostgreSQL output) back to microseconds. */
const timestampMicros = (value: string): bigint => {
  const m = /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:\+00)?( BC)?$/.exec(value);
  if (!m) return fail('XX000', `not a timestamp value: ${JSON.stringify(value)}`);
  const y = m[8] ? 1 - Number(m[1]) : Number(m[1]);
  const days = daysFromCivil(y, Number(m[2]), Number(m[3]));
  return BigInt(days) * DAY_US + BigInt((Number(m[4]) * 3600 + Number(m[5]) * 60 + Number(m[6])) * 1_000_000 + Number((m[7] ?? '').padEnd(6, '0')));
};
const dateDays = (value: string): number => {
  const m = /^(\d{4,})-(\d{2})-(\d{2})( BC)?$/.exec(value);
  if (!m) return fail('XX000', `not a date value: ${JSON.stringify(value)}`);
  return daysFromCivil(m[4] ? 1 - Number(m[1]) : Number(m[1]), Number(m[2]), Number(m[3]));
};

// ---- text by code point -----------------------------------------------------------------
const chars = (s: string): string[] => Array.from(s);
/** Simple (one code point to one) case mappings, as PostgreSQL's builtin pg_c_utf8 collation applies them. */
const GREEK_IOTA_TITLE: Record<number, number> = { 0x1fb3: 0x1fbc, 0x1fc3: 0x1fcc, 0x1ff3: 0x1ffc };
const simpleUpper = (c: string): string => {
  const u = c.toUpperCase();
  if (Array.from(u).length === 1) return u;
  const cp = c.codePointAt(0)!;
  if ((cp >= 0x1f80 && cp <= 0x1f87) || (cp >= 0x1f90 && cp <= 0x1f97) || (cp >= 0x1fa0 && cp <= 0x1fa7)) return String.fromCodePoint(cp + 8);
  if (GREEK_IOTA_TITLE[cp] !== undefined) return String.fromCodePoint(GREEK_IOTA_TITLE[cp]!);
  return c;
};
const simpleLower = (c: string): string => {
  const l = c.toLowerCase();
  if (Array.from(l).length === 1) return l;
  return c === '\u0130' ? 'i' : c;
};
const ALNUM = /^[\p{Alphabetic}0-9]$/u;
const trimChars = (s: string, set: string, left: boolean, right: boolean): string => {
  const cs = chars(s);
  const drop = new Set(chars(set));
  let a = 0;
  let b = cs.length;
  if (left) while (a < b && drop.has(cs[a]!)) a++;
  if (right) while (b > a && drop.has(cs[b - 1]!)) b--;
  return cs.slice(a, b).join('');
};

// ---- output and casts -------------------------------------------------------------------
/** A value as its type's output function prints it (what || and concat append). */
const out = (v: PgValue, type: PgScalar): string | null => {
  if (v === null) return null;
  if (type === 'boolean') return v ? 't' : 'f';
  return String(v);
};
const typeLabel: Record<string, string> = {
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  boolean: 'boolean',
  date: 'date',
  timestamptz: 'timestamp with time zone',
  uuid: 'uuid',
  text: 'text',
};
const fromText = (s: string, to: PgCastTarget): PgValue => {
  switch (to.type) {
    case 'text':
      return s;
    case 'integer':
      return Number(parseInteger(s, 'integer'));
    case 'bigint':
      return parseInteger(s, 'bigint');
    case 'numeric':
      return toNumeric(parseNumeric(s), to);
    case 'boolean':
      return parseBool(s);
    case 'date':
      return formatDate(parseDate(s));
    case 'timestamptz':
      return formatTimestamp(parseTimestamp(s, 'timestamp with time zone'), true);
    case 'uuid':
      return parseUuid(s);
  }
};
const toNumeric = (n: Num, to: PgCastTarget): string =>
  numFormat(to.precision === undefined ? n : numTypmod(n, to.precision, to.scale ?? 0));
const numToInt = (n: Num): bigint => numRound(n, 0).u;
const cast = (v: PgValue, from: PgScalar, to: PgCastTarget): PgValue => {
  if (v === null) return null;
  if (from === 'text' || from === 'unknown') return fromText(v as string, to);
  switch (to.type) {
    case 'text':
      return from === 'boolean' ? (v ? 'true' : 'false') : String(v);
    case 'integer':
      if (from === 'integer') return v;
      if (from === 'bigint') return int4(v as bigint);
      if (from === 'numeric') return int4(numToInt(numParse(v as string)));
      if (from === 'boolean') return v ? 1 : 0;
      break;
    case 'bigint':
      if (from === 'integer') return BigInt(v as number);
      if (from === 'bigint') return v;
      if (from === 'numeric') return int8(numToInt(numParse(v as string)));
      break;
    case 'numeric':
      if (from === 'integer' || from === 'bigint') return toNumeric({ u: BigInt(v as number | bigint), s: 0 }, to);
      if (from === 'numeric') return toNumeric(numParse(v as string), to);
      break;
    case 'boolean':
      if (from === 'integer') return v !== 0;
      if (from === 'boolean') return v;
      break;
    case 'date':
      if (from === 'date') return v;
      if (from === 'timestamp' || from === 'timestamptz') return formatDate(Number(floorDiv(timestampMicros(v as string), DAY_US)));
      break;
    case 'timestamptz':
      if (from === 'date') return formatTimestamp(BigInt(dateDays(v as string)) * DAY_US, true);
      if (from === 'timestamp' || from === 'timestamptz') return formatTimestamp(timestampMicros(v as string), true);
      break;
    case 'uuid':
      if (from === 'uuid') return v;
      break;
  }
  return fail('42846', `cannot cast type ${typeLabel[from] ?? from} to ${typeLabel[to.type]}`);
};

const numericValue = (v: PgValue, type: PgScalar): Num =>
  type === 'numeric' ? numParse(v as string) : { u: BigInt(v as number | bigint), s: 0 };

const api = {
  Error: PgError,
  /**
   * A source column's value as the program receives it (JSON from the orchestrator) in this
   * library's representation: bigint from its decimal string, numeric normalised, a
   * timestamp re-printed in PostgreSQL's ISO form.
   */
  col(row: Record<string, unknown>, name: string, type: PgScalar): PgValue {
    const v = Object.prototype.hasOwnProperty.call(row, name) ? row[name] : undefined;
    if (v === null || v === undefined) return null;
    switch (type) {
      case 'integer':
        return typeof v === 'number' ? v : Number(parseInteger(String(v), 'integer'));
      case 'bigint':
        return typeof v === 'bigint' ? v : parseInteger(String(v), 'bigint');
      case 'numeric':
        return numFormat(parseNumeric(String(v)));
      case 'boolean':
        return typeof v === 'boolean' ? v : parseBool(String(v));
      case 'date':
        return v instanceof Date ? formatDate(Math.floor(v.getTime() / 86_400_000)) : formatDate(parseDate(String(v)));
      case 'timestamp':
      case 'timestamptz': {
        if (v instanceof Date) return formatTimestamp(BigInt(v.getTime()) * 1000n, type === 'timestamptz');
        const s = String(v);
        const us = /^\d{4,}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?(\+00)?$/.test(s) ? timestampMicros(s) : parseTimestamp(s, type === 'timestamptz' ? 'timestamp with time zone' : 'timestamp without time zone');
        return formatTimestamp(us, type === 'timestamptz');
      }
      case 'uuid':
        return parseUuid(String(v));
      default:
        return String(v);
    }
  },
  /**
   * A parent's column through foreign keys: `parents` holds, per `path.column`, the JSON array
   * of the first hop's key values (as text) → the parent's value; no parent row gives NULL, as
   * the SQL subquery does.
   */
  parent(parents: ReadonlyMap<string, ReadonlyMap<string, unknown>>, key: string, keyValues: readonly unknown[], type: PgScalar): PgValue {
    if (keyValues.some((v) => v === null || v === undefined)) return null;
    const dictionary = parents.get(key);
    if (dictionary === undefined) return fail('XX000', `no parent values for ${key} were streamed in with the batch`);
    const k = JSON.stringify(keyValues.map((v) => String(v)));
    return dictionary.has(k) ? api.col({ v: dictionary.get(k) }, 'v', type) : null;
  },
  /** A value in the JSON the harness sends back: bigint as its decimal string, the rest as is. */
  toWire(v: PgValue): string | number | boolean | null {
    return typeof v === 'bigint' ? v.toString() : v;
  },
  /** A literal coerced to a type (PostgreSQL coerces an untyped 'string' to the other side's type). */
  literal(text: string, to: PgCastTarget): PgValue {
    return fromText(text, to);
  },
  cast,
  arith(type: 'integer' | 'bigint' | 'numeric', op: '+' | '-' | '*' | '/' | '%', a: PgValue, aType: PgScalar, b: PgValue, bType: PgScalar): PgValue {
    if (a === null || b === null) return null;
    if (type === 'numeric') return numFormat(numArith(op, numericValue(a, aType), numericValue(b, bType)));
    const x = BigInt(a as number | bigint);
    const y = BigInt(b as number | bigint);
    const wrap = type === 'integer' ? int4 : int8;
    switch (op) {
      case '+':
        return wrap(x + y);
      case '-':
        return wrap(x - y);
      case '*':
        return wrap(x * y);
      case '/':
        if (y === 0n) return fail('22012', 'division by zero');
        return wrap(x / y);
      default:
        if (y === 0n) return fail('22012', 'division by zero');
        return wrap(x % y);
    }
  },
  negate(type: 'integer' | 'bigint' | 'numeric', a: PgValue): PgValue {
    if (a === null) return null;
    if (type === 'numeric') {
      const n = numParse(a as string);
      return numFormat({ u: -n.u, s: n.s });
    }
    return type === 'integer' ? int4(-BigInt(a as number)) : int8(-(a as bigint));
  },
  /** `a || b`: NULL if either is NULL; a non-text side cast to text (textanycat is `$1 || $2::text`). */
  textcat(a: PgValue, aType: PgScalar, b: PgValue, bType: PgScalar): string | null {
    const x = cast(a, aType, { type: 'text' }) as string | null;
    const y = cast(b, bType, { type: 'text' }) as string | null;
    return x === null || y === null ? null : x + y;
  },
  concat(args: ReadonlyArray<readonly [PgValue, PgScalar]>): string {
    return args.map(([v, t]) => out(v, t) ?? '').join('');
  },
  concatWs(sep: PgValue, args: ReadonlyArray<readonly [PgValue, PgScalar]>): string | null {
    if (sep === null) return null;
    return args
      .map(([v, t]) => out(v, t))
      .filter((s): s is string => s !== null)
      .join(sep as string);
  },
  compare(type: PgScalar, op: '=' | '<>' | '<' | '<=' | '>' | '>=', a: PgValue, b: PgValue): boolean | null {
    if (a === null || b === null) return null;
    let c: number;
    if (type === 'numeric' || type === 'integer' || type === 'bigint') c = numCompare(numericValue(a, type), numericValue(b, type));
    else if (type === 'timestamp' || type === 'timestamptz') {
      const d = timestampMicros(a as string) - timestampMicros(b as string);
      c = d < 0n ? -1 : d > 0n ? 1 : 0;
    } else if (type === 'date') c = Math.sign(dateDays(a as string) - dateDays(b as string));
    else if (type === 'boolean') c = Number(a) - Number(b);
    else {
      // text compares under COLLATE "C" (validation says so): code point order, which is UTF-8 byte order.
      const x = chars(a as string).map((s) => s.codePointAt(0)!);
      const y = chars(b as string).map((s) => s.codePointAt(0)!);
      c = 0;
      for (let i = 0; i < Math.min(x.length, y.length) && c === 0; i++) c = Math.sign(x[i]! - y[i]!);
      if (c === 0) c = Math.sign(x.length - y.length);
    }
    switch (op) {
      case '=':
        return c === 0;
      case '<>':
        return c !== 0;
      case '<':
        return c < 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      default:
        return c >= 0;
    }
  },
  /** Three-valued AND / OR, left to right, stopping where PostgreSQL stops. */
  and(...args: Array<() => PgValue>): boolean | null {
    let sawNull = false;
    for (const f of args) {
      const v = f();
      if (v === false) return false;
      if (v === null) sawNull = true;
    }
    return sawNull ? null : true;
  },
  or(...args: Array<() => PgValue>): boolean | null {
    let sawNull = false;
    for (const f of args) {
      const v = f();
      if (v === true) return true;
      if (v === null) sawNull = true;
    }
    return sawNull ? null : false;
  },
  not(a: PgValue): boolean | null {
    return a === null ? null : !a;
  },
  coalesce(...args: Array<() => PgValue>): PgValue {
    for (const f of args) {
      const v = f();
      if (v !== null) return v;
    }
    return null;
  },
  nullif(type: PgScalar, a: PgValue, b: PgValue): PgValue {
    return api.compare(type, '=', a, b) === true ? null : a;
  },
  lower(s: PgValue): string | null {
    return s === null ? null : chars(s as string).map(simpleLower).join('');
  },
  upper(s: PgValue): string | null {
    return s === null ? null : chars(s as string).map(simpleUpper).join('');
  },
  initcap(s: PgValue): string | null {
    if (s === null) return null;
    let inWord = false;
    return chars(s as string)
      .map((c) => {
        // PostgreSQL 17's builtin initcap upper-cases (not title-cases) a word's first letter: ǆ → Ǆ.
        const mapped = inWord ? simpleLower(c) : simpleUpper(c);
        inWord = ALNUM.test(mapped);
        return mapped;
      })
      .join('');
  },
  btrim(s: PgValue, set: PgValue = ' '): string | null {
    return s === null || set === null ? null : trimChars(s as string, set as string, true, true);
  },
  ltrim(s: PgValue, set: PgValue = ' '): string | null {
    return s === null || set === null ? null : trimChars(s as string, set as string, true, false);
  },
  rtrim(s: PgValue, set: PgValue = ' '): string | null {
    return s === null || set === null ? null : trimChars(s as string, set as string, false, true);
  },
  replace(s: PgValue, from: PgValue, to: PgValue): string | null {
    if (s === null || from === null || to === null) return null;
    return from === '' ? (s as string) : (s as string).split(from as string).join(to as string);
  },
  /** substring(s, start [, count]) by code point, positions from 1, as text_substring. */
  substring(s: PgValue, start: PgValue, count?: PgValue): string | null {
    if (s === null || start === null || count === null) return null;
    const cs = chars(s as string);
    const first = Math.max(start as number, 1);
    if (count === undefined) return cs.slice(first - 1).join('');
    if ((count as number) < 0) fail('22011', 'negative substring length not allowed');
    const end = (start as number) + (count as number);
    return end <= first ? '' : cs.slice(first - 1, end - 1).join('');
  },
  left(s: PgValue, n: PgValue): string | null {
    if (s === null || n === null) return null;
    const cs = chars(s as string);
    const k = n as number;
    return (k >= 0 ? cs.slice(0, k) : cs.slice(0, Math.max(cs.length + k, 0))).join('');
  },
  right(s: PgValue, n: PgValue): string | null {
    if (s === null || n === null) return null;
    const cs = chars(s as string);
    const k = n as number;
    return (k >= 0 ? cs.slice(Math.max(cs.length - k, 0)) : cs.slice(Math.min(-k, cs.length))).join('');
  },
  splitPart(s: PgValue, delim: PgValue, n: PgValue): string | null {
    if (s === null || delim === null || n === null) return null;
    const k = n as number;
    if (k === 0) fail('22023', 'field position must not be zero');
    const text = s as string;
    if (text === '') return '';
    if (delim === '') return k === 1 || k === -1 ? text : '';
    const parts = text.split(delim as string);
    return (k > 0 ? parts[k - 1] : parts[parts.length + k]) ?? '';
  },
  /**
   * regexp_replace with a pattern the type checker accepted (no alternation, no quantified
   * groups, no class shorthands: where POSIX and JavaScript regular expressions agree) and
   * flags from g and i. `.` matches a newline, as in PostgreSQL; `\1`…`\9` and `\&` in the
   * replacement name groups and the whole match.
   */
  regexpReplace(s: PgValue, pattern: PgValue, replacement: PgValue, flags: PgValue = ''): string | null {
    if (s === null || pattern === null || replacement === null || flags === null) return null;
    const f = flags as string;
    const re = new RegExp(pattern as string, `su${f.includes('i') ? 'i' : ''}${f.includes('g') ? 'g' : ''}`);
    const repl = replacement as string;
    return (s as string).replace(re, (...m: unknown[]) => {
      // (match, group 1…n, offset, whole string)
      const groups = m.slice(0, -2) as Array<string | undefined>;
      let outText = '';
      for (let i = 0; i < repl.length; i++) {
        const c = repl[i]!;
        if (c !== '\\' || i === repl.length - 1) {
          outText += c;
          continue;
        }
        const next = repl[i + 1]!;
        if (next >= '1' && next <= '9') {
          outText += groups[Number(next)] ?? '';
          i++;
        } else if (next === '&') {
          outText += groups[0] ?? '';
          i++;
        } else if (next === '\\') {
          outText += '\\';
          i++;
        } else outText += '\\';
      }
      return outText;
    });
  },
  round(v: PgValue, places: PgValue = 0): string | null {
    if (v === null || places === null) return null;
    return numFormat(numRound(numParse(v as string), places as number));
  },
  /** CASE and WHERE take only true: NULL is not true. */
  isTrue(v: PgValue): boolean {
    return v === true;
  },
};

export const pg = api;
