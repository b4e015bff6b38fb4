/**
 * pg's escapeIdentifier and escapeLiteral (pg/lib/utils.js), written out here: requiring that
 * file loads pg's defaults and with them pg-types and its parsers (a dozen CommonJS modules,
 * tens of ms), which `ferry show` would pay to quote one filter for display. test/sql.test.ts
 * checks these give exactly what pg's own give, on names and values with quotes, backslashes
 * and other dirt, so an upgrade of pg that changed its quoting is seen.
 */
export function escapeIdentifier(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}

/** A string literal: quotes doubled; with a backslash, doubled too and the literal made E'…' (as pg does, whatever standard_conforming_strings is). */
export function escapeLiteral(text: string): string {
  if (typeof text !== 'string') return "''";
  let hasBackslash = false;
  let escaped = "'";
  for (const c of text) {
    if (c === "'") escaped += "''";
    else if (c === '\\') {
      escaped += '\\\\';
      hasBackslash = true;
    } else escaped += c;
  }
  escaped += "'";
  return hasBackslash ? ` E${escaped}` : escaped;
}
