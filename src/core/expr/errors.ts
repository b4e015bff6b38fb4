import { InputError } from '../errors.js';

/** What the column language accepts, in the words of every refusal (README: "The column language"). */
export const ALLOWED_SUMMARY =
  'column names (and a parent\'s column through a foreign key, parent.column); literals (\'text\', 42, 1.5, true, NULL); ' +
  '|| concat concat_ws lower upper initcap trim btrim ltrim rtrim replace substring substr left right split_part ' +
  'regexp_replace (flags g, i) coalesce nullif round; + - * / %; casts ::text ::integer ::bigint ::numeric(p,s) ' +
  '::boolean ::date ::timestamptz ::uuid; CASE WHEN … THEN … ELSE … END; = <> < <= > >= AND OR NOT IS [NOT] NULL';

export type ExprErrorCode =
  /** PostgreSQL's parser refused the text. */
  | 'EXPR_SYNTAX'
  /** Valid PostgreSQL, outside the language. */
  | 'EXPR_UNSUPPORTED'
  /** Well-formed but ill-typed (lower(integer), text + integer, a CASE with mixed branches). */
  | 'EXPR_TYPE'
  /** A column the source row does not have. */
  | 'EXPR_UNKNOWN_COLUMN'
  /** A parent path no foreign key (or named join column) explains. */
  | 'EXPR_PARENT_UNRESOLVED';

/** A column expression that cannot be used as written; `details.at` is its character offset. */
export class ExprError extends InputError {
  declare readonly code: ExprErrorCode;
  constructor(code: ExprErrorCode, message: string, options: { at?: number | undefined; construct?: string; hint?: string; cause?: unknown } = {}) {
    super(code, options.at === undefined ? message : `${message} (at character ${options.at + 1})`, {
      hint: options.hint ?? `the column language accepts: ${ALLOWED_SUMMARY}`,
      details: { ...(options.at !== undefined ? { at: options.at } : {}), ...(options.construct ? { construct: options.construct } : {}) },
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
  }
}
