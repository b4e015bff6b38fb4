/**
 * The one error hierarchy for the unexpected. Expected outcomes (a failed batch, a
 * non-zero container exit, a validation mismatch) are data, not exceptions.
 *
 * - `code`: stable, UPPER_SNAKE; scripts and the API match on it.
 * - `category`: user (fix your input), system (ferry or the machine), third_party (a
 *   database, Docker, the model API).
 * - `hint`: what to do next, in words.
 */
export type ErrorCategory = 'user' | 'system' | 'third_party';

export interface FerryErrorOptions {
  cause?: unknown;
  hint?: string;
  details?: Record<string, unknown>;
}

export class FerryError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, category: ErrorCategory, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.category = category;
    this.hint = options.hint;
    this.details = options.details;
  }
}

/** The description, a flag or a plan file is not usable as given. */
export class InputError extends FerryError {
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, 'user', message, options);
  }
}

/** A plan cannot run as it is: not approved, values needing review, stale analysis. */
export class PlanError extends FerryError {
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, 'user', message, options);
  }
}

/** A table, column or value named by the user or the model does not exist. */
export class NotFoundError extends FerryError {
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, 'user', message, options);
  }
}

/** The generated program does not type-check or bundle. */
export class CodegenError extends FerryError {
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, 'system', message, options);
  }
}

/** A database could not be reached or answered with an error ferry did not expect. */
export class DatabaseError extends FerryError {
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, 'third_party', message, options);
  }
}

/** Docker or the sandbox image is unavailable or misbehaves (not the program inside it). */
export class SandboxError extends FerryError {
  constructor(code: string, message: string, options: FerryErrorOptions = {}) {
    super(code, 'third_party', message, options);
  }
}

/** A one-paragraph explanation for a terminal: message, then what to do. */
export function describeError(e: unknown): string {
  if (e instanceof FerryError) {
    return `${e.code}: ${e.message}${e.hint ? `\n  → ${e.hint}` : ''}`;
  }
  if (e instanceof Error) return `UNEXPECTED: ${e.message}`;
  return `UNEXPECTED: ${String(e)}`;
}
