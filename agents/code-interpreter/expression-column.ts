import type { EnumTypeInfo } from '../../src/core/artifacts/schema-analysis.js';
import { compileTsFunction, parentKey, parentLookups, type Typed } from '../../src/core/expr/index.js';
import type { HelperName } from './helpers.js';
import type { ProgramColumn } from './resolve.js';
import { jsonTypeOf } from './row-types.js';
import { commentText, pascalCase, tsString, upperSnake, type NameAllocator } from './ts-text.js';

type ExpressionColumn = Extract<ProgramColumn, { kind: 'expression' }>;

/** Names the runtime and the parent dictionary take in the program's module scope. */
export const EXPRESSION_NAMES = ['pg', 'PgValue', 'PgScalar', 'PgCastTarget', 'parents', 'loadParents'] as const;

/** What of the program being assembled an expression column needs and adds to. */
export interface ExpressionParts {
  names: NameAllocator;
  declarations: string[];
  helpers: Set<HelperName>;
  enumType(info: EnumTypeInfo): string;
  /** Set once any column is an expression: the runtime is inlined once. */
  usesRuntime: boolean;
  /** `path.column` of every parent value a lookup needs (the run hands them in: loadParents). */
  parentKeys: Set<string>;
}

/**
 * Declares the column's expression as a function compiled by compileTs (calls into the inlined
 * runtime `pg`, one per operation) and returns the value for the output row, converted to the
 * target column's JSON type: numbers to their text where the column travels as text, a null
 * refused for a NOT NULL column, an enum target through its approved value mapping.
 */
export function expressionValue(column: ExpressionColumn, parts: ExpressionParts): string {
  const typed = column.origin.expr as Typed;
  parts.usesRuntime = true;
  for (const p of parentLookups(typed)) parts.parentKeys.add(parentKey(p));
  const base = pascalCase(column.target.name);
  const fn = parts.names.take(`${base.charAt(0).toLowerCase()}${base.slice(1)}Expr`);
  const reads = column.origin.reads.join(', ') || 'no column';
  const doc = `// ${commentText(`${column.target.name} = ${column.origin.text} (reads ${reads}); validation re-derives every value from the same tree compiled to SQL.`)}`;
  parts.declarations.push(`${doc}\n${compileTsFunction(fn, typed, column.origin.text)}`);
  const what = tsString(`${column.target.name} ← ${column.origin.text}`);
  let value = `${fn}(row, parents)`;
  if (column.enumMapping) {
    const valueType = column.enumType ? parts.enumType(column.enumType) : 'string';
    const name = parts.names.take(`${upperSnake(column.target.name)}_VALUES_BY_EXPRESSION`);
    const entries = column.enumMapping.values.map((v) => `  [${v.source === null ? 'null' : tsString(v.source)}, ${tsString(v.target ?? '')}],`);
    parts.declarations.push(
      [
        `/** ${commentText(`${column.target.name}: each value of ${column.origin.text}, mapped as approved; a value not listed (null included) fails its row.`)} */`,
        `const ${name}: ReadonlyMap<string | null, ${valueType}> = new Map<string | null, ${valueType}>([`,
        ...entries,
        ']);',
      ].join('\n'),
    );
    parts.helpers.add('mapValue');
    return `mapValue(${name}, ${value}, ${what})`;
  }
  const json = jsonTypeOf(column.target, undefined);
  if (json === 'string' && (typed.type === 'integer' || typed.type === 'bigint')) value = `(pg.cast(${value}, ${tsString(typed.type)}, { type: 'text' }) as string | null)`;
  if (column.target.nullable) return value;
  parts.helpers.add('notNull');
  return `notNull(${value}, ${what})`;
}

/** The parent dictionary the expressions read: empty unless the run hands values in through loadParents. */
export function parentsDeclaration(parentKeys: ReadonlySet<string>): string {
  const lines = [
    '/** Parent values by `path.column`, then by the JSON of the first hop\'s key texts: computed by the orchestrator per run, never fetched here. */',
    'const parents = new Map<string, ReadonlyMap<string, unknown>>();',
  ];
  if (parentKeys.size > 0) {
    lines.push(
      '',
      `/** Called once by the sandbox entry before any row, with the run's dictionary for ${[...parentKeys].map(commentText).join(', ')}. */`,
      'export function loadParents(dictionary: Readonly<Record<string, ReadonlyArray<readonly [string, unknown]>>>): void {',
      '  for (const [key, entries] of Object.entries(dictionary)) parents.set(key, new Map(entries));',
      '}',
    );
  }
  return lines.join('\n');
}
