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

/** Chunks of about this many characters (or bytes) go to the socket at once. */
const CHUNK_CHARS = 256 * 1024;
const FIRST_CAPACITY = 64 * 1024;

/**
 * A batch's COPY lines (each made by copyLine or copyLinesAfter) as UTF-8 bytes in one Buffer,
 * with the offset where each line ends. Held from prepare() until the write commits, a
 * batch's lines as strings were ~580 bytes a row of V8 heap (ropes of each value, promoted
 * while the batch before them wrote); as bytes they are their own length, outside the heap,
 * go to the socket in slices without a copy, and are cut into lines again only to find the
 * row of a failed batch.
 */
export class CopyLines {
  private buf: Buffer = Buffer.allocUnsafeSlow(FIRST_CAPACITY);
  private size = 0;
  private readonly ends: number[] = [];

  /** Appends one line (it ends with its newline). */
  push(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room for that means write() never truncates.
    const need = this.size + 3 * line.length;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.buf.length, need));
      this.buf.copy(grown, 0, 0, this.size);
      this.buf = grown;
    }
    this.size += this.buf.write(line, this.size, 'utf8');
    this.ends.push(this.size);
  }

  /** Lines. */
  get length(): number {
    return this.ends.length;
  }

  /** Lines lo ≤ i < hi as bytes: a view of the buffer, not a copy. */
  bytes(lo = 0, hi: number = this.ends.length): Buffer {
    const start = lo <= 0 ? 0 : this.ends[lo - 1]!;
    const end = hi <= 0 ? 0 : this.ends[Math.min(hi, this.ends.length) - 1]!;
    return this.buf.subarray(start, Math.max(start, end));
  }

  /** Line i as text (an error message's excerpt, a test). */
  line(i: number): string {
    return this.bytes(i, i + 1).toString('utf8');
  }
}

/** What copyIn sends: lines as strings, or a batch's CopyLines (or a range of them: its bytes). */
export type CopyData = readonly string[] | CopyLines | Buffer;

/**
 * Streams `lines` into `table (columns)`; returns the server's own count of rows copied.
 * Rejects with the server's error (its `where` names the COPY line that failed).
 */
export async function copyIn(db: pg.Client, table: string, columns: readonly string[], lines: CopyData): Promise<number> {
  const stream = db.query(copyFrom(`COPY ${table} (${columns.map(quoteIdent).join(', ')}) FROM STDIN`));
  const chunks = Array.isArray(lines) ? textChunks(lines as readonly string[]) : byteChunks(lines instanceof CopyLines ? lines.bytes() : (lines as Buffer));
  return await new Promise<number>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('finish', () => resolve(stream.rowCount));
    const pump = () => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (!stream.write(next.value)) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
}

function* textChunks(lines: readonly string[]): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

function* byteChunks(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += CHUNK_CHARS) yield bytes.subarray(at, at + CHUNK_CHARS);
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
