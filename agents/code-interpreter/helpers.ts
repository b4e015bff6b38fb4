/**
 * The runtime helpers a generated program may need, as TypeScript source. A program carries
 * only the ones it uses, so a reviewer reads no dead code. Every helper fails loudly, naming
 * the column and the value: a value that cannot be converted is never replaced by a default.
 */
export type HelperName =
  | 'mapValue'
  | 'notNull'
  | 'toInteger'
  | 'toFloat'
  | 'toBigintText'
  | 'toNumericText'
  | 'toBoolean'
  | 'toUuid'
  | 'toEnumValue'
  | 'parseJson';

/** Emission order: the order a reader meets them in the transform. */
export const HELPER_ORDER: readonly HelperName[] = [
  'mapValue',
  'notNull',
  'toInteger',
  'toFloat',
  'toBigintText',
  'toNumericText',
  'toBoolean',
  'toUuid',
  'toEnumValue',
  'parseJson',
];

/** Module-level names the helpers declare; generated names must avoid them. */
export const HELPER_CONSTANTS: readonly string[] = ['INTEGER_TEXT', 'DECIMAL_TEXT', 'INTEGER_RANGES', 'BOOLEAN_TEXT', 'UUID_TEXT'];

const INTEGER_TEXT = `/** Optional sign, then digits: what PostgreSQL's integer input accepts (after trimming). */
const INTEGER_TEXT = /^[+-]?\\d+$/;`;

const DECIMAL_TEXT = `/** A decimal number, optionally with an exponent: what PostgreSQL's numeric input accepts. */
const DECIMAL_TEXT = /^[+-]?(\\d+\\.?\\d*|\\.\\d+)(e[+-]?\\d+)?$/i;`;

/** Helper source text, and the shared constants it needs (emitted once). */
export const HELPERS: Record<HelperName, { needs: string[]; text: string }> = {
  mapValue: {
    needs: [],
    text: `/**
 * Looks a source value up in an approved mapping. Keys are the values as PostgreSQL prints
 * them, so a number or boolean is looked up by its text. A value the plan does not list
 * fails the row: nothing is assumed.
 */
function mapValue<T>(mapping: ReadonlyMap<string | null, T>, value: string | number | boolean | null, what: string): T {
  const mapped = mapping.get(value === null ? null : String(value));
  if (mapped === undefined) {
    throw new Error(\`\${what}: source value \${JSON.stringify(value)} is not in the approved mapping; map it in the plan, approve the plan, and run again\`);
  }
  return mapped;
}`,
  },
  notNull: {
    needs: [],
    text: `/** A NOT NULL target column fed from a nullable source column: a null fails the row here, not at insert. */
function notNull<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(\`\${what}: source value is null, but the target column is NOT NULL\`);
  return value;
}`,
  },
  toInteger: {
    needs: [INTEGER_TEXT],
    text: `const INTEGER_RANGES = { smallint: [-32768, 32767], integer: [-2147483648, 2147483647] } as const;

/** An integer, strictly: no fraction, no trailing text, within the target type's range. */
function toInteger(value: string | number, what: string, type: keyof typeof INTEGER_RANGES): number {
  const [min, max] = INTEGER_RANGES[type];
  const n = typeof value === 'number' ? value : INTEGER_TEXT.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(\`\${what}: \${JSON.stringify(value)} is not a \${type} (\${min} to \${max})\`);
  }
  return n;
}`,
  },
  toFloat: {
    needs: [DECIMAL_TEXT],
    text: `/** A finite number, strictly: the whole text must be a decimal number. */
function toFloat(value: string, what: string): number {
  const n = DECIMAL_TEXT.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isFinite(n)) throw new Error(\`\${what}: \${JSON.stringify(value)} is not a number\`);
  return n;
}`,
  },
  toBigintText: {
    needs: [INTEGER_TEXT],
    text: `/** A bigint as it travels: canonical decimal text, checked against the 64-bit range. */
function toBigintText(value: string | number, what: string): string {
  const text = typeof value === 'number' ? (Number.isSafeInteger(value) ? String(value) : '') : value.trim();
  const n = INTEGER_TEXT.test(text) ? BigInt(text) : null;
  if (n === null || n < -(2n ** 63n) || n >= 2n ** 63n) throw new Error(\`\${what}: \${JSON.stringify(value)} is not a bigint\`);
  return String(n);
}`,
  },
  toNumericText: {
    needs: [DECIMAL_TEXT],
    text: `/** A numeric as it travels: its decimal text, unchanged, once it is known to be a number. */
function toNumericText(value: string, what: string): string {
  const text = value.trim();
  if (!DECIMAL_TEXT.test(text)) throw new Error(\`\${what}: \${JSON.stringify(value)} is not a number\`);
  return text;
}`,
  },
  toBoolean: {
    needs: [],
    text: `/** The spellings PostgreSQL's boolean input accepts; anything else fails. */
const BOOLEAN_TEXT: ReadonlyMap<string, boolean> = new Map([
  ['t', true], ['true', true], ['y', true], ['yes', true], ['on', true], ['1', true],
  ['f', false], ['false', false], ['n', false], ['no', false], ['off', false], ['0', false],
]);

function toBoolean(value: string, what: string): boolean {
  const b = BOOLEAN_TEXT.get(value.trim().toLowerCase());
  if (b === undefined) throw new Error(\`\${what}: \${JSON.stringify(value)} is not a boolean\`);
  return b;
}`,
  },
  toUuid: {
    needs: [],
    text: `const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Text that must be a uuid (hyphenated, any case), passed on as it is. */
function toUuid(value: string, what: string): string {
  if (!UUID_TEXT.test(value)) throw new Error(\`\${what}: \${JSON.stringify(value)} is not a uuid\`);
  return value;
}`,
  },
  toEnumValue: {
    needs: [],
    text: `/** A text value that must already be one of the target enum's values. */
function toEnumValue<T extends string>(allowed: readonly T[], value: string, what: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(\`\${what}: \${JSON.stringify(value)} is not one of \${allowed.join(', ')}\`);
  return found;
}`,
  },
  parseJson: {
    needs: [],
    text: `/** Text checked as JSON, as PostgreSQL's text-to-json cast does; the text itself goes on, so no number is rounded. */
function parseJson(value: string, what: string): string {
  try {
    JSON.parse(value);
    return value;
  } catch {
    throw new Error(\`\${what}: the text is not valid JSON\`);
  }
}`,
  },
};
