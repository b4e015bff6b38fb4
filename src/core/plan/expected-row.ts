import type { ColumnMapping, MigrationPlan } from '../artifacts/migration-plan.js';
import type { ColumnInfo, TableInfo, TypeCategory } from '../artifacts/schema-analysis.js';
import { newDataRow } from '../data-row.js';
import { jsonbCanonical } from '../json-value.js';

/**
 * The plan, evaluated directly: what each program column must hold for a source row. The
 * orchestrator checks every row the sandbox returns against it before writing, and
 * validation re-derives every migrated row with it. The generated program and this
 * evaluator are two implementations of the same plan; they must agree.
 */

/**
 * Columns the program writes: everything but minted uuids, database defaults and references
 * resolved through migration_mappings (the orchestrator fills those; the sandbox has no database).
 */
export function programColumns(plan: MigrationPlan): ColumnMapping[] {
  return plan.columns.filter((c) => c.origin.kind !== 'generated_uuid' && c.origin.kind !== 'default' && c.origin.kind !== 'via_mapping');
}

/** Program columns deriveRow cannot re-derive: written by a model's function, checked by type only. */
export function notRederived(plan: MigrationPlan): ColumnMapping[] {
  return programColumns(plan).filter((c) => c.origin.kind === 'transform');
}

/**
 * Where a source row carries an expression column's value already derived by the database
 * (validation's row walk selects it with compileSql): the key is this prefix and the target
 * column. A row without it (the orchestrator's batches) leaves the column out of the derived
 * row, so it can never compare equal by accident.
 */
export const EXPRESSION_VALUE_PREFIX = '\u0001expr:';

export type Derived = { ok: true; row: Record<string, unknown> } | { ok: false; column: string; message: string };

export function deriveRow(plan: MigrationPlan, target: TableInfo, source: Record<string, unknown>): Derived {
  return compileDeriver(plan, target)(source);
}

/**
 * deriveRow with the plan's lookups (target columns, enum tables, FK decisions) done once:
 * the orchestrator checks millions of rows with it, so the per-row work is the values only.
 */
export function compileDeriver(plan: MigrationPlan, target: TableInfo): (source: Record<string, unknown>) => Derived {
  type Step = (source: Record<string, unknown>, row: Record<string, unknown>) => { column: string; message: string } | null;
  const steps: Step[] = [];
  for (const c of programColumns(plan)) {
    const name = c.target;
    const col = target.columns.find((x) => x.name === name);
    if (!col) {
      steps.push(() => ({ column: name, message: `target column ${name} is not in the analysis` }));
      break;
    }
    const o = c.origin;
    switch (o.kind) {
      case 'copy':
        steps.push((s, row) => {
          row[name] = s[o.source] ?? null;
          return null;
        });
        break;
      case 'cast':
        steps.push((s, row) => {
          const r = castValue(s[o.source] ?? null, col.category);
          if (!r.ok) return { column: name, message: `${o.source}: ${r.message}` };
          row[name] = r.value;
          return null;
        });
        break;
      case 'constant':
        steps.push((_s, row) => {
          row[name] = o.value;
          return null;
        });
        break;
      case 'enum_map': {
        const m = plan.enumMappings.find((e) => e.targetColumn === name);
        const table = new Map<string | null, string | null>();
        for (const x of m?.values ?? []) if (!table.has(x.source)) table.set(x.source, x.target);
        steps.push((s, row) => {
          const v = s[o.source];
          const hit = table.get(v === null || v === undefined ? null : String(v));
          if (hit === undefined || hit === null) {
            return { column: name, message: `source value ${JSON.stringify(v)} of ${o.source} has no ${m?.enumType ?? 'enum'} value in the plan` };
          }
          row[name] = hit;
          return null;
        });
        break;
      }
      case 'foreign_key': {
        const d = plan.foreignKeys.find((f) => f.column === name);
        steps.push((_s, row) => {
          if (!d || d.value === null) return { column: name, message: 'no foreign-key value decided' };
          row[name] = d.value;
          return null;
        });
        break;
      }
      case 'expression':
        steps.push(expressionStep(plan, name, o));
        break;
      case 'transform':
        // A model-written function runs only in the sandbox; its columns are not re-derived here
        // (see notRederived): they are held to type and nullability by checkValue instead.
        break;
      default:
        break;
    }
  }
  return (source) => {
    // Column names are keys here: inheriting nothing, __proto__ or constructor is a column like any other.
    const row = newDataRow();
    for (const step of steps) {
      const problem = step(source, row);
      if (problem) return { ok: false, ...problem };
    }
    return { ok: true, row };
  };
}

type ExpressionOrigin = Extract<MigrationPlan['columns'][number]['origin'], { kind: 'expression' }>;

/** An expression column's value as the database derived it into the row (EXPRESSION_VALUE_PREFIX), through the enum mapping where it has one. */
function expressionStep(plan: MigrationPlan, name: string, o: ExpressionOrigin) {
  const key = `${EXPRESSION_VALUE_PREFIX}${name}`;
  const m = o.enumMapped ? plan.enumMappings.find((e) => e.targetColumn === name) : undefined;
  const table = new Map<string | null, string | null>((m?.values ?? []).map((x) => [x.source, x.target]));
  return (s: Record<string, unknown>, row: Record<string, unknown>): { column: string; message: string } | null => {
    if (!(key in s)) return null;
    const v = (s[key] ?? null) as string | null;
    if (!o.enumMapped) {
      row[name] = v;
      return null;
    }
    const hit = table.get(v);
    if (hit === undefined || hit === null) return { column: name, message: `${o.text} gives ${JSON.stringify(v)}, which has no ${m?.enumType ?? 'enum'} value in the plan` };
    row[name] = hit;
    return null;
  };
}

/** integer→text and friends, with the wire types of ColumnInfo.category. */
function castValue(v: unknown, to: TypeCategory): { ok: true; value: unknown } | { ok: false; message: string } {
  if (v === null) return { ok: true, value: null };
  switch (to) {
    case 'string':
    case 'enum':
    case 'bigint':
    case 'numeric':
    case 'timestamp':
      if (to === 'bigint' && !/^-?\d+$/.test(String(v))) return { ok: false, message: `${JSON.stringify(v)} is not an integer` };
      return { ok: true, value: typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v) };
    case 'integer': {
      const n = typeof v === 'number' ? v : /^-?\d+$/.test(String(v).trim()) ? Number(String(v).trim()) : NaN;
      return Number.isInteger(n) ? { ok: true, value: n } : { ok: false, message: `${JSON.stringify(v)} is not an integer` };
    }
    case 'float': {
      const n = typeof v === 'number' ? v : Number(String(v));
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, message: `${JSON.stringify(v)} is not a number` };
    }
    default:
      return { ok: true, value: v };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Does a value fit the target column as the database will take it? Returns the problem in
 * words, or null. Checked for every row before it is written, so a bad row fails its batch
 * with its key named rather than half-way through an INSERT.
 */
/** Module level, not a closure per call: checkValue runs once per column of every migrated row. */
function expects(col: ColumnInfo, v: unknown, what: string): string {
  return `${col.name} (${col.pgType}) expects ${what}, got ${JSON.stringify(v).slice(0, 80)}`;
}

export function checkValue(col: ColumnInfo, v: unknown, enumValues: readonly string[] | undefined): string | null {
  if (v === null || v === undefined) {
    return col.nullable ? null : `${col.name} is NOT NULL but the value is null`;
  }
  switch (col.category) {
    case 'string':
      if (typeof v !== 'string') return expects(col, v, 'a string');
      // UTF-16 length ≥ characters, so only a string long in code units is counted by characters.
      if (col.maxLength !== null && v.length > col.maxLength && [...v].length > col.maxLength) return `${col.name} allows ${col.maxLength} characters, the value has ${[...v].length}`;
      if (v.includes('\u0000')) return `${col.name}: text cannot contain NUL bytes`;
      return null;
    case 'enum':
      if (typeof v !== 'string') return expects(col, v, 'a string');
      return enumValues && !enumValues.includes(v) ? `${col.name}: "${v}" is not a value of ${col.enumType} (${enumValues.join(', ')})` : null;
    case 'uuid':
      return typeof v === 'string' && UUID.test(v) ? null : expects(col, v, 'a uuid');
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 31 ? null : expects(col, v, 'a 32-bit integer');
    case 'bigint':
      return (typeof v === 'string' && /^-?\d+$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v)) ? null : expects(col, v, 'an integer (as a string)');
    case 'numeric':
      return (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) || (typeof v === 'number' && Number.isFinite(v)) ? null : expects(col, v, 'a decimal number');
    case 'float':
      return typeof v === 'number' && Number.isFinite(v) ? null : expects(col, v, 'a number');
    case 'boolean':
      return typeof v === 'boolean' ? null : expects(col, v, 'true or false');
    case 'timestamp':
    case 'date':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? null : expects(col, v, 'a date/time string');
    default:
      return null;
  }
}

/**
 * Same value as the target column will hold it, decided by the column's type: text and enums
 * exactly (`"02134"` is not `"2134"`), integers as BigInt, numerics by the decimal text
 * PostgreSQL stores (after the column's scale), booleans, uuids (any case), dates and
 * timestamps by their fields or instant, json by structure. A pair that cannot be read under
 * the type compares by its exact text: a wrong "equal" is never the fallback.
 */
export function sameValue(col: Pick<ColumnInfo, 'category' | 'pgType'>, expected: unknown, actual: unknown): boolean {
  return valueComparer(col)(expected, actual);
}

export type ValueComparer = (expected: unknown, actual: unknown) => boolean;

/** sameValue with the column's type looked at once (the row check runs it per value). */
export function valueComparer(col: Pick<ColumnInfo, 'category' | 'pgType'>): ValueComparer {
  const by = <T>(canon: (v: unknown) => T | undefined, eq: (a: T, b: T) => boolean = (a, b) => a === b): ValueComparer => (expected, actual) => {
    // The same value is the same under any type's reading (canon is a function of the value
    // alone): most returned values are byte for byte what the plan derives, so skip the parse.
    if (expected === actual && expected !== null && expected !== undefined) return true;
    if (expected === null || expected === undefined || actual === null || actual === undefined) return isNull(expected) && isNull(actual);
    const a = canon(expected);
    const b = canon(actual);
    if (a === undefined || b === undefined) return a === undefined && b === undefined && asText(expected) === asText(actual);
    return eq(a, b);
  };
  switch (col.category) {
    case 'string':
    case 'enum':
      return by(asText);
    case 'integer':
    case 'bigint':
      return by(integerOf);
    case 'numeric': {
      const scale = numericScale(col.pgType);
      return by((v) => numericText(v, scale));
    }
    case 'float':
      return by(floatOf, (a, b) => a === b || (Number.isNaN(a) && Number.isNaN(b)));
    case 'boolean':
      return by(booleanOf);
    case 'uuid':
      return by(uuidOf);
    case 'date':
      return by((v) => dateTimeOf(v)?.date);
    case 'timestamp': {
      const withZone = /with time zone/.test(col.pgType);
      return by((v) => {
        const t = dateTimeOf(v);
        if (!t) return undefined;
        // timestamptz is an instant; a timestamp without zone keeps its fields and drops any offset, as PostgreSQL does.
        if (withZone) return t.offsetSeconds === null ? undefined : `@${t.epochMicros - BigInt(t.offsetSeconds) * 1_000_000n}`;
        return `${t.date} ${t.timeMicros}`;
      });
    }
    case 'json': {
      const value = by(jsonCanonical);
      // json keeps its text byte for byte, so two texts must be the same text; jsonb compares by value.
      if (col.pgType !== 'json') return value;
      return (expected, actual) => (typeof expected === 'string' && typeof actual === 'string' ? expected === actual : value(expected, actual));
    }
    case 'bytea':
      return by((v) => (typeof v === 'string' && /^\\x[0-9a-fA-F]*$/.test(v) ? v.toLowerCase() : undefined));
    default:
      return by((v) => (typeof v === 'string' ? v : jsonCanonical(v)));
  }
}

const isNull = (v: unknown) => v === null || v === undefined;

/** The text a value is written as (COPY text form: numbers as JavaScript prints them, booleans as PostgreSQL does). */
function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return v === null || v === undefined ? undefined : JSON.stringify(v);
}

/** int2/int4/int8 input: optional spaces and sign around decimal digits, as BigInt (no float rounding on the way). */
function integerOf(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return BigInt(v.trim());
  return undefined;
}

function floatOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v);
  if (typeof v === 'string' && /^\s*(NaN|[+-]?Infinity)\s*$/i.test(v)) return Number(v.trim().replace(/^([+-]?)infinity$/i, '$1Infinity').replace(/^nan$/i, 'NaN'));
  return undefined;
}

/** The scale of `numeric(p,s)` (0 for `numeric(p)`), or null for an unconstrained numeric. */
export function numericScale(pgType: string): number | null {
  const m = /^numeric\((\d+)(?:,\s*(-?\d+))?\)/.exec(pgType);
  return m ? Number(m[2] ?? 0) : null;
}

/**
 * The text PostgreSQL prints for a value stored in numeric (scale `scale`, or null when the
 * column has none): exponent applied, leading zeros and a lone sign of zero dropped, rounded
 * half away from zero to the scale; trailing zeros kept, since numeric keeps them.
 */
export function numericText(v: unknown, scale: number | null): string | undefined {
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
    text = String(v);
  } else if (typeof v === 'string' || typeof v === 'bigint') text = String(v);
  else return undefined;
  const special = /^\s*(?:([+-]?)(inf|infinity)|(nan))\s*$/i.exec(text);
  if (special) return special[3] ? 'NaN' : `${special[1] === '-' ? '-' : ''}Infinity`;
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const negative = m[1] === '-';
  let digits = `${m[2]}${m[3] ?? ''}`;
  let places = (m[3] ?? '').length - Number(m[4] ?? 0);
  if (places < 0) {
    digits += '0'.repeat(-places);
    places = 0;
  }
  if (scale !== null && places > scale) {
    const cut = digits.length - (places - scale);
    const kept = digits.slice(0, Math.max(cut, 0)) || '0';
    const roundUp = cut >= 0 && (digits[cut] ?? '0') >= '5';
    digits = roundUp ? (BigInt(kept) + 1n).toString() : kept;
    places = scale;
  } else if (scale !== null && places < scale) {
    digits += '0'.repeat(scale - places);
    places = scale;
  }
  digits = digits.padStart(places + 1, '0');
  const whole = digits.slice(0, digits.length - places).replace(/^0+(?=\d)/, '');
  const frac = digits.slice(digits.length - places);
  const zero = /^0*$/.test(whole + frac);
  return `${negative && !zero ? '-' : ''}${whole}${places > 0 ? `.${frac}` : ''}`;
}

const BOOLEAN_TRUE = new Set(['t', 'true', 'y', 'yes', 'on', '1']);
const BOOLEAN_FALSE = new Set(['f', 'false', 'n', 'no', 'off', '0']);

function booleanOf(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v !== 'string') return undefined;
  const t = v.trim().toLowerCase();
  return BOOLEAN_TRUE.has(t) ? true : BOOLEAN_FALSE.has(t) ? false : undefined;
}

/** uuid input: any case, with or without hyphens or braces; compared as 32 lower-case hex digits. */
function uuidOf(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const hex = v.trim().replace(/^\{(.*)\}$/, '$1').replace(/-/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex) ? hex : undefined;
}

interface DateTime {
  /** YYYY-MM-DD. */
  date: string;
  /** Microseconds since midnight. */
  timeMicros: bigint;
  /** Microseconds since 1970-01-01 00:00 of the fields as written (offset not applied). */
  epochMicros: bigint;
  /** Seconds east of UTC, or null when the text has no offset. */
  offsetSeconds: number | null;
}

const DATE_TIME = /^\s*(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?\s*$/i;

/** ISO and PostgreSQL date/timestamp text (AD years); anything else (BC, infinity, words) is left to exact text. */
function dateTimeOf(v: unknown): DateTime | undefined {
  if (typeof v !== 'string') return undefined;
  const m = DATE_TIME.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
  const days = Date.UTC(Number(y), Number(mo) - 1, Number(d)) / 86_400_000;
  const check = new Date(days * 86_400_000);
  if (!Number.isFinite(days) || check.getUTCDate() !== Number(d) || check.getUTCMonth() !== Number(mo) - 1) return undefined;
  // PostgreSQL keeps microseconds, rounding what is finer.
  const micros = BigInt(Math.round(Number(`0.${frac || '0'}`) * 1e6));
  const timeMicros = ((BigInt(Number(h)) * 60n + BigInt(Number(mi))) * 60n + BigInt(Number(sec))) * 1_000_000n + micros;
  let offsetSeconds: number | null = null;
  if (zone) {
    if (/^z$/i.test(zone)) offsetSeconds = 0;
    else {
      const z = /^([+-])(\d{2}):?(\d{2})?:?(\d{2})?$/.exec(zone)!;
      offsetSeconds = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 3600 + Number(z[3] ?? 0) * 60 + Number(z[4] ?? 0));
    }
  }
  return {
    date: `${y}-${mo}-${d}`,
    timeMicros,
    epochMicros: BigInt(days) * 86_400_000_000n + timeMicros,
    offsetSeconds,
  };
}

/**
 * A json value as jsonb compares it (src/core/json-value.ts): keys sorted, numbers as exact
 * decimals. A string is the JSON text COPY would hand to the column (json travels as its
 * text); any other value is what JSON.stringify would write. Text that does not parse is
 * undefined, and compares by its exact text.
 */
function jsonCanonical(v: unknown): string | undefined {
  const text = typeof v === 'string' ? v : (JSON.stringify(v) as string | undefined);
  return text === undefined ? undefined : jsonbCanonical(text);
}
