import type { MigrationPlan } from '../core/artifacts/migration-plan.js';
import { findEnum, type SchemaAnalysis, type TableInfo } from '../core/artifacts/schema-analysis.js';
import type { OutputRow } from '../../sandbox/types.js';
import { checkValue, compileDeriver, programColumns, valueComparer } from '../core/plan/expected-row.js';
import { BatchFailure } from './write-batch.js';
import { nextTurn, SLICE_ROWS } from './slices.js';

/**
 * Every row the sandbox returns must answer to one row that went in (the session checks
 * keys), fit the target column types, and equal what the plan says for its source row.
 * The plan's lookups are done once here; per row only the values are checked.
 */
export function makeRowChecker(plan: MigrationPlan, analysis: SchemaAnalysis, target: TableInfo) {
  const cols = programColumns(plan).map((c) => {
    const info = target.columns.find((x) => x.name === c.target)!;
    const enumValues = info.enumType ? findEnum(analysis.target, info.enumType)?.values : undefined;
    // A model-written function's column passes checkValue; nothing here can re-derive it. An
    // expression's parent values are not in the batch: it is held to its type here and
    // re-derived row by row by validation, from the source, by the SQL compiler.
    return { name: c.target, info, enumValues, same: valueComparer(info), rederived: c.origin.kind !== 'transform' && c.origin.kind !== 'expression' };
  });
  const expectedNames = new Set(cols.map((c) => c.name));
  const derive = compileDeriver(plan, target);
  /** `sent`: the batch's source rows by legacy key (the writer reads references from the same map). */
  return async (sent: ReadonlyMap<string, Record<string, unknown>>, got: OutputRow[]): Promise<OutputRow[]> => {
    if (got.length !== sent.size) throw new BatchFailure('SANDBOX_PROTOCOL_ERROR', `the program returned ${got.length} rows for ${sent.size}`);
    for (let i = 0; i < got.length; i++) {
      if (i > 0 && i % SLICE_ROWS === 0) await nextTurn();
      const out = got[i]!;
      const src = sent.get(out.k);
      if (!src) throw new BatchFailure('SANDBOX_PROTOCOL_ERROR', `the program returned a row for key ${out.k}, which was not sent`, out.k);
      for (const name in out.r) {
        if (!expectedNames.has(name)) throw new BatchFailure('ROW_UNEXPECTED_COLUMN', `row ${out.k}: the program set ${name}, which the plan does not let it write`, out.k);
      }
      for (const c of cols) {
        const problem = checkValue(c.info, out.r[c.name], c.enumValues);
        if (problem) throw new BatchFailure('ROW_INVALID', `row with legacy key ${out.k}: ${problem}`, out.k);
      }
      const expected = derive(src);
      if (!expected.ok) throw new BatchFailure('ROW_NOT_DERIVABLE', `row with legacy key ${out.k}: ${expected.column}: ${expected.message}`, out.k);
      for (const c of cols) {
        if (!c.rederived) continue;
        if (!c.same(expected.row[c.name], out.r[c.name])) {
          throw new BatchFailure(
            'ROW_MISMATCH',
            `row with legacy key ${out.k}: ${c.name} is ${JSON.stringify(out.r[c.name])}, the plan says ${JSON.stringify(expected.row[c.name])}`,
            out.k,
          );
        }
      }
    }
    return got;
  };
}
