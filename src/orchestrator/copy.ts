import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent } from '../core/sql.js';
import { InputError } from '../core/errors.js';

/**
 * COPY … FROM STDIN in PostgreSQL's text format: the bulk path's writer. One round trip
 * per table per batch instead of a bind of every value, and the server parses each value
 * with the column's own input function, exactly as `$n::type` would.
 *
 * Every value of every COPY line goes through copyValue and every line through copyLine:
 * nothing is concatenated into a line by hand. In the text format a backslash starts an
 * escape (`\N` is NULL, `\.` ends the data, `\t` `\n` `\r` `\b` `\f` `\v`, octal and `\x`
 * hex stand for bytes) and tab, newline and CR delimit; escaping the backslash itself
 * first and then tab, newline and CR leaves no sequence the server could read differently.
 */

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A value COPY cannot carry as it is: NUL (PostgreSQL text has no NUL, and `\0` would be a
 * zero byte the server refuses) or half a surrogate pair (no UTF-8 form: Node would write
 * U+FFFD in its place, a silent change). `index` is the value's position in its line.
 */
export class CopyValueError extends InputError {
  constructor(
    readonly problem: 'nul' | 'lone_surrogate',
    readonly index: number,
    readonly at: number,
  ) {
    super(
      problem === 'nul' ? 'COPY_VALUE_HAS_NUL' : 'COPY_VALUE_BAD_UNICODE',
      problem === 'nul'
        ? `the value contains a NUL character (U+0000) at position ${at}, which PostgreSQL text cannot store`
        : `the value contains half of a UTF-16 surrogate pair at position ${at}, which has no UTF-8 form`,
      { hint: 'remove or replace the character in the source value (or in the transform that produced it), then run again; nothing of the batch was written' },
    );
  }
}

/** Characters that need a look before a value goes in a line; most values have none. */
const SPECIAL = /[\\\n\r\t\0\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * One value in COPY text format: NULL is \N; backslash, newline, CR and tab are escaped.
 * Throws CopyValueError (with `index`) for a value no escaping can carry.
 */
export function copyValue(v: unknown, index = 0): string {
  if (v === null || v === undefined) return '\\N';
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'boolean') s = v ? 't' : 'f';
  else if (typeof v === 'number' || typeof v === 'bigint') s = String(v);
  else if (Array.isArray(v)) s = arrayLiteral(v);
  else s = JSON.stringify(v);
  if (!SPECIAL.test(s)) return s;
  const nul = s.indexOf('\0');
  if (nul >= 0) throw new CopyValueError('nul', index, nul);
  const lone = LONE_SURROGATE.exec(s);
  if (lone) throw new CopyValueError('lone_surrogate', index, lone.index);
  return s.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c]!);
}

/**
 * A JS array as PostgreSQL's array input reads it ('{1,NULL,"a \\"b\\""}'): a program may
 * return one for an array column (source arrays arrive as that text already). Every element
 * is quoted but NULL and numbers, so no element's text is read as syntax; objects are JSON.
 */
export function arrayLiteral(items: readonly unknown[]): string {
  const element = (x: unknown): string => {
    if (x === null || x === undefined) return 'NULL';
    if (Array.isArray(x)) return arrayLiteral(x);
    if (typeof x === 'number' || typeof x === 'bigint') return String(x);
    const text = typeof x === 'string' ? x : typeof x === 'boolean' ? (x ? 't' : 'f') : JSON.stringify(x);
    return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  };
  return `{${items.map(element).join(',')}}`;
}

export function copyLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : '\t') + copyValue(values[i], i);
  return `${line}\n`;
}

/**
 * Lines that all begin with the same values (the mapping lines' run, batch and table names):
 * those are escaped once, each row's own values per line; all through copyValue. `index` in a
 * CopyValueError counts the shared values too.
 */
export function copyLinesAfter(shared: readonly unknown[]): (...own: unknown[]) => string {
  let prefix = '';
  for (let i = 0; i < shared.length; i++) prefix += copyValue(shared[i], i) + '\t';
  const first = shared.length;
  return (...own) => {
    let line = prefix;
    for (let i = 0; i < own.length; i++) line += (i === 0 ? '' : '\t') + copyValue(own[i], first + i);
    return `${line}\n`;
  };
}

/** Chunks of about this many characters go to the socket at once. */
const CHUNK_CHARS = 256 * 1024;

/**
 * Streams `lines` into `table (columns)`; returns the server's own count of rows copied.
 * Rejects with the server's error (its `where` names the COPY line that failed).
 */
export async function copyIn(db: pg.Client, table: string, columns: readonly string[], lines: readonly string[]): Promise<number> {
  const stream = db.query(copyFrom(`COPY ${table} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`));
  return await new Promise<number>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    let chunk = '';
    let i = 0;
    const pump = () => {
      while (i < lines.length) {
        chunk += lines[i++];
        if (chunk.length >= CHUNK_CHARS) {
          const ok = stream.write(chunk);
          chunk = '';
          if (!ok) {
            stream.once('drain', pump);
            return;
          }
        }
      }
      if (chunk) stream.write(chunk);
      chunk = '';
      stream.end();
    };
    pump();
  });
}

/**
 * The 1-based line of a failed COPY, from the error's context ("COPY t, line 3, column x: …").
 * Only a hint: a table or column name may itself contain ", line 9", so the caller confirms it.
 */
export function copyErrorLine(err: unknown): number | null {
  const where = (err as { where?: string } | null)?.where?.split('\n')[0];
  const m = where ? /^COPY .*?, line (\d+)/.exec(where) : null;
  return m ? Number(m[1]) : null;
}
