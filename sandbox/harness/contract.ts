/**
 * What a generated program exports: one pure function from a source row (as JSON, typed by
 * the generated SourceRow) to the target columns it is responsible for (typed by the
 * generated ProgramOutput). Throwing fails the row's batch with the row's key named.
 */
export type TransformFn = (row: Record<string, unknown>) => Record<string, unknown>;
