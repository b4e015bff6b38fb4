import type { ColumnMapping, MigrationPlan } from '../artifacts/migration-plan.js';
import type { ColumnInfo, TableInfo, TypeCategory } from '../artifacts/schema-analysis.js';

/**
 * The plan, evaluated directly: what each program column must hold for a source row. The
 * orchestrator checks every row the sandbox returns against it before writing, and
 * validation re-derives every migrated row with it. The generated program and this
 * evaluator are two implementations of the same plan; they must agree.
 */

/**
 * Columns the program writes: everything but minted uuids, database defaults and references
 * resolved through migration_mappings (the orchestrator fills those; the sandbox has no database).
 */
export function programColumns(plan: MigrationPlan): ColumnMapping[] {
  return plan.columns.filter((c) => c.origin.kind !== 'generated_uuid' && c.origin.kind !== 'default' && c.origin.kind !== 'via_mapping');
}

/** Program columns deriveRow cannot re-derive: written by a model's function, checked by type only. */
export function notRederived(plan: MigrationPlan): ColumnMapping[] {
  return programColumns(plan).filter((c) => c.origin.kind === 'transform');
}

export type Derived = { ok: true; row: Record<string, unknown> } | { ok: false; column: string; message: string };

export function deriveRow(plan: MigrationPlan, target: TableInfo, source: Record<string, unknown>): Derived {
  return compileDeriver(plan, target)(source);
}

/**
 * deriveRow with the plan's lookups (target columns, enum tables, FK decisions) done once:
 * the orchestrator checks millions of rows with it, so the per-row work is the values only.
 */
export function compileDeriver(plan: MigrationPlan, target: TableInfo): (source: Record<string, unknown>) => Derived {
  type Step = (source: Record<string, unknown>, row: Record<string, unknown>) => { column: string; message: string } | null;
  const steps: Step[] = [];
  for (const c of programColumns(plan)) {
    const name = c.target;
    const col = target.columns.find((x) => x.name === name);
    if (!col) {
      steps.push(() => ({ column: name, message: `target column ${name} is not in the analysis` }));
      break;
    }
    const o = c.origin;
    switch (o.kind) {
      case 'copy':
        steps.push((s, row) => {
          row[name] = s[o.source] ?? null;
          return null;
        });
        break;
      case 'cast':
        steps.push((s, row) => {
          const r = castValue(s[o.source] ?? null, col.category);
          if (!r.ok) return { column: name, message: `${o.source}: ${r.message}` };
          row[name] = r.value;
          return null;
        });
        break;
      case 'constant':
        steps.push((_s, row) => {
          row[name] = o.value;
          return null;
        });
        break;
      case 'enum_map': {
        const m = plan.enumMappings.find((e) => e.targetColumn === name);
        const table = new Map<string | null, string | null>();
        for (const x of m?.values ?? []) if (!table.has(x.source)) table.set(x.source, x.target);
        steps.push((s, row) => {
          const v = s[o.source];
          const hit = table.get(v === null || v === undefined ? null : String(v));
          if (hit === undefined || hit === null) {
            return { column: name, message: `source value ${JSON.stringify(v)} of ${o.source} has no ${m?.enumType ?? 'enum'} value in the plan` };
          }
          row[name] = hit;
          return null;
        });
        break;
      }
      case 'foreign_key': {
        const d = plan.foreignKeys.find((f) => f.column === name);
        steps.push((_s, row) => {
          if (!d || d.value === null) return { column: name, message: 'no foreign-key value decided' };
          row[name] = d.value;
          return null;
        });
        break;
      }
      case 'transform':
        // A model-written function runs only in the sandbox; its columns are not re-derived here
        // (see notRederived): they are held to type and nullability by checkValue instead.
        break;
      default:
        break;
    }
  }
  return (source) => {
    const row: Record<string, unknown> = {};
    for (const step of steps) {
      const problem = step(source, row);
      if (problem) return { ok: false, ...problem };
    }
    return { ok: true, row };
  };
}

/** integer→text and friends, with the wire types of ColumnInfo.category. */
function castValue(v: unknown, to: TypeCategory): { ok: true; value: unknown } | { ok: false; message: string } {
  if (v === null) return { ok: true, value: null };
  switch (to) {
    case 'string':
    case 'enum':
    case 'bigint':
    case 'numeric':
    case 'timestamp':
      if (to === 'bigint' && !/^-?\d+$/.test(String(v))) return { ok: false, message: `${JSON.stringify(v)} is not an integer` };
      return { ok: true, value: typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v) };
    case 'integer': {
      const n = typeof v === 'number' ? v : /^-?\d+$/.test(String(v).trim()) ? Number(String(v).trim()) : NaN;
      return Number.isInteger(n) ? { ok: true, value: n } : { ok: false, message: `${JSON.stringify(v)} is not an integer` };
    }
    case 'float': {
      const n = typeof v === 'number' ? v : Number(String(v));
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, message: `${JSON.stringify(v)} is not a number` };
    }
    default:
      return { ok: true, value: v };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Does a value fit the target column as the database will take it? Returns the problem in
 * words, or null. Checked for every row before it is written, so a bad row fails its batch
 * with its key named rather than half-way through an INSERT.
 */
/** Module level, not a closure per call: checkValue runs once per column of every migrated row. */
function expects(col: ColumnInfo, v: unknown, what: string): string {
  return `${col.name} (${col.pgType}) expects ${what}, got ${JSON.stringify(v).slice(0, 80)}`;
}

export function checkValue(col: ColumnInfo, v: unknown, enumValues: readonly string[] | undefined): string | null {
  if (v === null || v === undefined) {
    return col.nullable ? null : `${col.name} is NOT NULL but the value is null`;
  }
  switch (col.category) {
    case 'string':
      if (typeof v !== 'string') return expects(col, v, 'a string');
      // UTF-16 length ≥ characters, so only a string long in code units is counted by characters.
      if (col.maxLength !== null && v.length > col.maxLength && [...v].length > col.maxLength) return `${col.name} allows ${col.maxLength} characters, the value has ${[...v].length}`;
      if (v.includes('\u0000')) return `${col.name}: text cannot contain NUL bytes`;
      return null;
    case 'enum':
      if (typeof v !== 'string') return expects(col, v, 'a string');
      return enumValues && !enumValues.includes(v) ? `${col.name}: "${v}" is not a value of ${col.enumType} (${enumValues.join(', ')})` : null;
    case 'uuid':
      return typeof v === 'string' && UUID.test(v) ? null : expects(col, v, 'a uuid');
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 31 ? null : expects(col, v, 'a 32-bit integer');
    case 'bigint':
      return (typeof v === 'string' && /^-?\d+$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v)) ? null : expects(col, v, 'an integer (as a string)');
    case 'numeric':
      return (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) || (typeof v === 'number' && Number.isFinite(v)) ? null : expects(col, v, 'a decimal number');
    case 'float':
      return typeof v === 'number' && Number.isFinite(v) ? null : expects(col, v, 'a number');
    case 'boolean':
      return typeof v === 'boolean' ? null : expects(col, v, 'true or false');
    case 'timestamp':
    case 'date':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? null : expects(col, v, 'a date/time string');
    default:
      return null;
  }
}

/** Same value for the database's purposes (numbers and numeric strings compare as numbers). */
export function sameValue(expected: unknown, actual: unknown): boolean {
  if (expected === actual) return true;
  if (expected === null || actual === null || expected === undefined || actual === undefined) return false;
  if ((typeof expected === 'number' || typeof expected === 'string') && (typeof actual === 'number' || typeof actual === 'string')) {
    const a = Number(expected);
    const b = Number(actual);
    if (String(expected).trim() !== '' && String(actual).trim() !== '' && Number.isFinite(a) && Number.isFinite(b)) return a === b;
  }
  return JSON.stringify(expected) === JSON.stringify(actual);
}
