import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent } from '../core/sql.js';

/**
 * COPY … FROM STDIN in PostgreSQL's text format: the bulk path's writer. One round trip
 * per table per batch instead of a bind of every value, and the server parses each value
 * with the column's own input function, exactly as `$n::type` would.
 */

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One value in COPY text format: NULL is \N; backslash, newline, CR and tab are escaped. */
export function copyValue(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'boolean') s = v ? 't' : 'f';
  else if (typeof v === 'number' || typeof v === 'bigint') s = String(v);
  else s = JSON.stringify(v);
  return /[\\\n\r\t]/.test(s) ? s.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c]!) : s;
}

export function copyLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : '\t') + copyValue(values[i]);
  return `${line}\n`;
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
