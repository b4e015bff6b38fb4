/**
 * Small, pure helpers for writing TypeScript source text. Database names can be anything
 * (`order`, `weird col`, `__proto__`, `naïve`), so every name that reaches generated code
 * goes through one of these.
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A single-quoted TypeScript string literal; escapes everything that could end or bend it. */
export function tsString(value: string): string {
  let out = "'";
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case "'":
        out += "\\'";
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\u2028':
        out += '\\u2028';
        break;
      case '\u2029':
        out += '\\u2029';
        break;
      default: {
        const code = ch.codePointAt(0) ?? 0;
        // Control characters, and lone surrogates (they cannot be written as UTF-8), as escapes.
        const escape = code < 0x20 || code === 0x7f || (code >= 0xd800 && code <= 0xdfff);
        out += escape ? `\\u${code.toString(16).padStart(4, '0')}` : ch;
      }
    }
  }
  return `${out}'`;
}

/** A literal for a JSON scalar: a string, a finite number, a boolean or null. */
export function tsLiteral(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return tsString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`${value} has no JSON form`);
    return Object.is(value, -0) ? '0' : String(value);
  }
  return value ? 'true' : 'false';
}

/** A property name in an interface: bare when it is an identifier, quoted otherwise. */
export function propertyKey(name: string): string {
  return IDENTIFIER.test(name) ? name : tsString(name);
}

/**
 * A property name in an object literal. `__proto__: x` would set the prototype instead of
 * making a property, so that one name is written computed.
 */
export function literalKey(name: string): string {
  if (name === '__proto__') return `[${tsString(name)}]`;
  return propertyKey(name);
}

/** `row.name` or `row['weird col']`. Reserved words (`row.order`) are fine after a dot. */
export function propertyAccess(object: string, name: string): string {
  return IDENTIFIER.test(name) ? `${object}.${name}` : `${object}[${tsString(name)}]`;
}

/** Text safe inside a comment: one line, and it cannot close a block comment. */
export function commentText(text: string): string {
  return commentLine(text.replace(/\s+/g, ' ').trim());
}

/** Like commentText, but keeps the spacing a caller lined up. */
export function commentLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').replace(/\*\//g, '*\\/');
}

function words(name: string): string[] {
  return name.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
}

/** `technician_type` → `TechnicianType`; never empty, never starting with a digit. */
export function pascalCase(name: string): string {
  const out = words(name)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
  if (out === '') return 'Unnamed';
  return /^[0-9]/.test(out) ? `T${out}` : out;
}

/** `role_type` → `ROLE_TYPE`; never empty, never starting with a digit. */
export function upperSnake(name: string): string {
  const out = words(name)
    .map((w) => w.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('_');
  if (out === '') return 'UNNAMED';
  return /^[0-9]/.test(out) ? `C_${out}` : out;
}

/**
 * Hands out unique names in a fixed order, so the same inputs always give the same names.
 * `preferred` are tried in turn; after that a number is appended to the first.
 */
export class NameAllocator {
  private readonly taken: Set<string>;

  constructor(reserved: Iterable<string> = []) {
    this.taken = new Set(reserved);
  }

  take(...preferred: [string, ...string[]]): string {
    for (const name of preferred) {
      if (!this.taken.has(name)) {
        this.taken.add(name);
        return name;
      }
    }
    for (let i = 2; ; i++) {
      const name = `${preferred[0]}${i}`;
      if (!this.taken.has(name)) {
        this.taken.add(name);
        return name;
      }
    }
  }
}

/** Pads each left part to the widest (up to `cap`) so trailing comments line up. */
export function alignComments(lines: ReadonlyArray<{ code: string; comment: string }>, indent: string, cap = 64): string[] {
  const width = Math.min(cap, Math.max(0, ...lines.map((l) => l.code.length)));
  return lines.map((l) => `${indent}${l.code.padEnd(width)} // ${l.comment}`);
}
