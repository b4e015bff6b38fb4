import type { EnumMapping, ForeignKeyDecision } from '../../src/core/artifacts/migration-plan.js';
import type { ColumnInfo, EnumTypeInfo } from '../../src/core/artifacts/schema-analysis.js';
import { CodegenError, PlanError } from '../../src/core/errors.js';
import { HELPERS, HELPER_CONSTANTS, HELPER_ORDER, type HelperName } from './helpers.js';
import type { ProgramColumn, ResolvedPlan } from './resolve.js';
import { describeFilter, type RowTypes } from './row-types.js';
import { EXPRESSION_NAMES, expressionValue, parentsDeclaration } from './expression-column.js';
import { transformCall } from './transform-function.js';
import { runtimeSource } from '../../src/core/expr/index.js';
import { NameAllocator, alignComments, commentLine, commentText, literalKey, propertyAccess, tsLiteral, tsString, upperSnake } from './ts-text.js';

/** Recorded in the artifact; bump when the generated text changes for the same plan. */
export const GENERATOR_VERSION = 'code-interpreter/1.0.0';

/** Where the program's types come from; the bundler and the type-checker both serve this path. */
export const ROW_TYPES_MODULE = './row-types';

const TEXT_CATEGORIES = new Set<ColumnInfo['category']>(['string', 'other', 'bigint', 'numeric', 'timestamp', 'date', 'time', 'bytea', 'uuid', 'enum']);
const TEMPORAL = new Set<ColumnInfo['category']>(['timestamp', 'date', 'time']);

/** Everything the program text is assembled from, collected while walking the columns. */
class ProgramParts {
  readonly helpers = new Set<HelperName>();
  readonly typeImports = new Set<string>();
  /** Top-level declarations (mapping tables, constants), in the order columns need them. */
  readonly declarations: string[] = [];
  readonly names: NameAllocator;
  private readonly enumValueLists = new Map<string, string>();
  /** Model-written function bodies by target column (transform origins). */
  transforms: ReadonlyMap<string, string> = new Map();
  /** Set by an expression column: the column language's runtime is inlined once. */
  usesRuntime = false;
  /** Parent values the expressions look up, by `path.column`. */
  readonly parentKeys = new Set<string>();

  constructor(
    readonly rowTypes: RowTypes,
    readonly resolved: ResolvedPlan,
  ) {
    // One module scope: helpers, their constants, the imported types and what is named here.
    this.names = new NameAllocator([...HELPER_ORDER, ...HELPER_CONSTANTS, ...rowTypes.exportedNames, 'transform', ...EXPRESSION_NAMES]);
  }

  /** The exported union of a target enum, imported from the row types. */
  enumType(info: EnumTypeInfo): string {
    const name = this.rowTypes.enumTypeName('target', `${info.schema}.${info.name}`);
    if (name === undefined) throw new CodegenError('ROW_TYPES_INCOMPLETE', `row types declare no type for enum ${info.schema}.${info.name}`);
    this.typeImports.add(name);
    return name;
  }

  /** A const list of an enum's values, declared once however many columns check against it. */
  enumValues(info: EnumTypeInfo): string {
    const key = `${info.schema}.${info.name}`;
    const existing = this.enumValueLists.get(key);
    if (existing) return existing;
    const type = this.enumType(info);
    const name = this.names.take(`${upperSnake(info.name)}_VALUES`);
    this.enumValueLists.set(key, name);
    this.declarations.push(
      `/** The values of enum ${commentText(key)}, in declaration order. */\nconst ${name}: readonly ${type}[] = [${info.values.map(tsString).join(', ')}];`,
    );
    return name;
  }
}

/**
 * Writes the transform program for a resolved, approved plan. The output depends on the plan
 * and the analysis only (no clock, no randomness), so the same plan always gives the same
 * text and, after bundling, the same hash.
 */
export function generateProgram(resolved: ResolvedPlan, rowTypes: RowTypes, transforms: ReadonlyMap<string, string> = new Map()): string {
  const parts = new ProgramParts(rowTypes, resolved);
  parts.transforms = transforms;
  parts.typeImports.add(rowTypes.sourceRowName);
  parts.typeImports.add(rowTypes.outputName);

  const returnLines: string[] = [];
  for (const column of resolved.returned) {
    const value = valueOf(column, parts, resolved);
    // A cast is the one line whose value is not obvious from its code; its constant's reason sits on the const.
    if (column.kind === 'cast') returnLines.push(`    // ${commentText(column.mapping.reason)}`);
    returnLines.push(`    ${literalKey(column.target.name)}: ${value},`);
  }

  const helperNeeds = new Set<string>();
  const helperTexts: string[] = [];
  for (const name of HELPER_ORDER) {
    if (!parts.helpers.has(name)) continue;
    for (const need of HELPERS[name].needs) {
      if (!helperNeeds.has(need)) {
        helperNeeds.add(need);
        helperTexts.push(need);
      }
    }
    helperTexts.push(HELPERS[name].text);
  }

  const sourceRows = resolved.sourceTable.name;
  const sections = [
    header(resolved),
    `import type { ${[...parts.typeImports].sort().join(', ')} } from ${tsString(ROW_TYPES_MODULE)};`,
    // The column language's runtime (src/core/expr/runtime.ts), inlined: the program imports nothing.
    ...(parts.usesRuntime ? [runtimeSource().trimEnd(), parentsDeclaration(parts.parentKeys)] : []),
    ...parts.declarations,
    [
      `/** One ${commentText(sourceRows)} row in, the ${commentText(resolved.targetTable.name)} columns this program owns out. */`,
      `export function transform(row: ${rowTypes.sourceRowName}): ${rowTypes.outputName} {`,
      '  return {',
      ...returnLines,
      '  };',
      '}',
    ].join('\n'),
    ...helperTexts,
  ];
  return `${sections.join('\n\n')}\n`;
}

function header(resolved: ResolvedPlan): string {
  const { plan, analysis, sourceTable, targetTable } = resolved;
  const filter = plan.source.filters.length > 0 ? ` where ${plan.source.filters.map(describeFilter).join(' and ')}` : '';
  const approved = plan.approvedAt !== undefined ? `, approved ${plan.approvedAt}${plan.approvedBy !== undefined ? ` by ${plan.approvedBy}` : ''}` : '';
  const lines = [
    'ferry transform program',
    '',
    `Plan:       ${plan.id}, revision ${plan.revision}${approved}`,
    `Plan hash:  ${resolved.planHash}`,
    `Analysis:   ${resolved.analysisHash}`,
    `From:       ${analysis.source.database} ${sourceTable.schema}.${sourceTable.name}${filter} (${plan.source.rowCount} rows)`,
    `To:         ${analysis.target.database} ${targetTable.schema}.${targetTable.name}`,
    `Written by: ${GENERATOR_VERSION}, from the plan alone; type-checked against ${ROW_TYPES_MODULE}.ts`,
    '',
    'transform() is pure: one source row in, the target columns it owns out. It leaves out:',
  ];
  const leftOut = resolved.leftOut.map((l) => {
    const why =
      l.why === 'generated_uuid'
        ? 'a fresh uuid from the orchestrator, recorded in the row mapping'
        : l.why === 'via_mapping'
          ? 'the parent\'s new id, looked up by the orchestrator in migration_mappings'
          : l.target.default !== null
          ? `the database default, ${l.target.default}`
          : 'the database default (null)';
    return { name: l.target.name, why: l.why === 'not_in_plan' ? `not in the plan, so ${why}` : why };
  });
  const width = Math.max(0, ...leftOut.map((l) => l.name.length));
  if (leftOut.length === 0) lines.push('  nothing: it returns every target column.');
  for (const l of leftOut) lines.push(`  ${l.name.padEnd(width)}  ${l.why}`);
  return ['/**', ...lines.map((l) => (l === '' ? ' *' : ` * ${commentLine(l)}`)), ' */'].join('\n');
}

function valueOf(column: ProgramColumn, parts: ProgramParts, resolved: ResolvedPlan): string {
  switch (column.kind) {
    case 'copy':
    case 'cast':
      return converted(column.source, column.target, parts);
    case 'constant': {
      const name = parts.names.take(upperSnake(column.target.name));
      parts.declarations.push(`/** ${commentText(`${column.target.name}, the same in every row: ${column.mapping.reason}`)} */\nconst ${name} = ${tsLiteral(column.value)};`);
      return name;
    }
    case 'foreign_key':
      return foreignKey(column.target, column.decision, parts);
    case 'transform': {
      const info = column.target.enumType === undefined ? undefined : resolved.analysis.target.enums.find((e) => `${e.schema}.${e.name}` === column.target.enumType);
      return transformCall(column, parts, parts.transforms, parts.rowTypes.sourceRowName, info);
    }
    case 'enum_map':
      return enumMap(column.target, column.source, column.enumMapping, column.enumType, parts, resolved);
    case 'expression':
      return expressionValue(column, parts);
  }
}

function what(target: ColumnInfo, source: ColumnInfo): string {
  return tsString(`${target.name} ← ${source.name}`);
}

function enumMap(target: ColumnInfo, source: ColumnInfo, mapping: EnumMapping, enumType: EnumTypeInfo | undefined, parts: ProgramParts, resolved: ResolvedPlan): string {
  if (!['string', 'other', 'enum', 'integer', 'bigint', 'numeric', 'float', 'boolean', 'uuid'].includes(source.category)) {
    throw unsupported(target, source, 'a value mapping keyed on it');
  }
  const valueType = enumType ? parts.enumType(enumType) : 'string';
  const name = parts.names.take(`${upperSnake(target.name)}_BY_${upperSnake(source.name)}`);
  const entries = alignComments(
    mapping.values.map((v) => ({
      code: `[${v.source === null ? 'null' : tsString(v.source)}, ${tsString(v.target ?? '')}],`,
      comment: commentText(describeRule(v)),
    })),
    '  ',
  );
  const onto = enumType ? `enum ${enumType.schema}.${enumType.name}` : `${target.pgType} values`;
  const doc = [
    `${target.name} ← ${source.name}: every ${source.name} value of the ${resolved.plan.source.table} rows, mapped onto ${onto}.`,
    `Why ${source.name}: ${mapping.reason}`,
    // Null is a value like any other: the plan maps it explicitly or it fails the row.
    `A value not listed here (null included) fails its row: nothing is assumed.`,
  ];
  parts.declarations.push(
    [
      '/**',
      ...doc.map((l) => ` * ${commentText(l)}`),
      ' */',
      `const ${name}: ReadonlyMap<string | null, ${valueType}> = new Map<string | null, ${valueType}>([`,
      ...entries,
      ']);',
    ].join('\n'),
  );
  parts.helpers.add('mapValue');
  const access = propertyAccess('row', source.name);
  return `mapValue(${name}, ${access}, ${what(target, source)})`;
}

function describeRule(v: EnumMapping['values'][number]): string {
  const rows = `${v.count} row${v.count === 1 ? '' : 's'}`;
  const confidence = v.confidence < 1 ? `, confidence ${v.confidence}` : '';
  const status = v.status === 'overridden' ? 'overridden in review — ' : '';
  return `${status}${v.rule ?? 'no rule'}: ${v.detail} (${rows}${confidence})`;
}

function foreignKey(target: ColumnInfo, decision: ForeignKeyDecision, parts: ProgramParts): string {
  const value = decision.value;
  if (value === null) throw new PlanError('PLAN_NEEDS_REVIEW', `${target.name}: no ${decision.refTable} row chosen`);
  let literal: string;
  switch (target.category) {
    case 'integer':
    case 'float': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || (target.category === 'integer' && !Number.isInteger(n))) {
        throw new PlanError('PLAN_INCONSISTENT', `${target.name}: the chosen ${decision.refTable} key ${JSON.stringify(value)} is not a ${target.pgType}`);
      }
      literal = String(n);
      break;
    }
    case 'uuid':
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
        throw new PlanError('PLAN_INCONSISTENT', `${target.name}: the chosen ${decision.refTable} key ${JSON.stringify(value)} is not a uuid`);
      }
      literal = tsString(value);
      break;
    default:
      literal = tsString(value);
  }
  const chosen = decision.candidates.find((c) => c.value === value);
  const shown = decision.candidates.slice(0, 5).map((c) => `${c.value} (${c.label})`);
  const more = decision.candidates.length > shown.length ? `, and ${decision.candidates.length - shown.length} more` : '';
  const doc = [
    `${target.name} → ${decision.refSchema}.${decision.refTable}(${decision.refColumn}): every row points at this one row, chosen in the plan${chosen ? ` (${chosen.label})` : ''}.`,
    `Why: ${decision.reason}`,
    `Candidates (${decision.candidateFilter}): ${decision.candidateCount} found${shown.length > 0 ? ` — ${shown.join(', ')}${more}` : ''}.`,
  ];
  if (decision.status === 'overridden') doc.push('Chosen by a reviewer (overridden in review).');
  const name = parts.names.take(upperSnake(target.name));
  parts.declarations.push(['/**', ...doc.map((l) => ` * ${commentText(l)}`), ' */', `const ${name} = ${literal};`].join('\n'));
  return name;
}

/** How one value is converted; `apply` wraps the expression of a non-null source value. */
type Conversion = { apply: (value: string) => string; helpers: HelperName[] };

const same: Conversion = { apply: (v) => v, helpers: [] };
const call = (helper: HelperName, args: (v: string) => string): Conversion => ({ apply: args, helpers: [helper] });

/**
 * From the source column's JSON form to the target's, for copy and cast alike: when the two
 * already travel the same way this is the value itself, otherwise a strict conversion that
 * throws naming the value. Pairs with no faithful conversion are refused at generation.
 */
function conversion(source: ColumnInfo, target: ColumnInfo, parts: ProgramParts): Conversion | null {
  const from = source.category;
  const w = what(target, source);
  const isText = TEXT_CATEGORIES.has(from);
  const isNumber = from === 'integer' || from === 'float';
  switch (target.category) {
    case 'string':
    case 'other':
      // json travels as its text (src/db/connect.ts): the text is the value, as PostgreSQL's json::text.
      if (isText || from === 'json') return same;
      if (isNumber || from === 'boolean') return { apply: (v) => `String(${v})`, helpers: [] };
      return null;
    case 'integer': {
      const type = target.pgType.startsWith('smallint') ? 'smallint' : 'integer';
      if (from === 'integer' && (type === 'integer' || source.pgType.startsWith('smallint'))) return same;
      if (isNumber || from === 'string' || from === 'other' || from === 'bigint' || from === 'numeric') {
        return call('toInteger', (v) => `toInteger(${v}, ${w}, ${tsString(type)})`);
      }
      if (from === 'boolean') return { apply: (v) => `(${v} ? 1 : 0)`, helpers: [] };
      return null;
    }
    case 'float':
      if (isNumber) return same;
      if (from === 'string' || from === 'other' || from === 'bigint' || from === 'numeric') return call('toFloat', (v) => `toFloat(${v}, ${w})`);
      return null;
    case 'bigint':
      if (from === 'bigint') return same;
      if (from === 'integer') return { apply: (v) => `String(${v})`, helpers: [] };
      if (from === 'float' || from === 'string' || from === 'other' || from === 'numeric') return call('toBigintText', (v) => `toBigintText(${v}, ${w})`);
      return null;
    case 'numeric':
      if (from === 'numeric' || from === 'bigint') return same;
      if (isNumber) return { apply: (v) => `String(${v})`, helpers: [] };
      if (from === 'string' || from === 'other') return call('toNumericText', (v) => `toNumericText(${v}, ${w})`);
      return null;
    case 'boolean':
      if (from === 'boolean') return same;
      if (from === 'string' || from === 'other') return call('toBoolean', (v) => `toBoolean(${v}, ${w})`);
      if (from === 'integer') return { apply: (v) => `(${v} !== 0)`, helpers: [] };
      return null;
    case 'uuid':
      if (from === 'uuid') return same;
      if (from === 'string' || from === 'other') return call('toUuid', (v) => `toUuid(${v}, ${w})`);
      return null;
    case 'timestamp':
    case 'date':
    case 'time':
      // Date and time text goes to PostgreSQL as it is; its input parser is the one to trust.
      if (TEMPORAL.has(from) || from === 'string' || from === 'other') return same;
      return null;
    case 'enum': {
      const info = parts.resolved.analysis.target.enums.find((e) => `${e.schema}.${e.name}` === target.enumType);
      if (!info) return null;
      if (from === 'enum') {
        // Identical value sets (or a subset) need no check: the types already agree.
        const sourceEnum = parts.resolved.analysis.source.enums.find((e) => `${e.schema}.${e.name}` === source.enumType);
        if (sourceEnum && sourceEnum.values.every((v) => info.values.includes(v))) return same;
      }
      if (from === 'enum' || from === 'string' || from === 'other') {
        const list = parts.enumValues(info);
        return call('toEnumValue', (v) => `toEnumValue(${list}, ${v}, ${w})`);
      }
      return null;
    }
    case 'json':
      if (from === 'string') return call('parseJson', (v) => `parseJson(${v}, ${w})`);
      return same;
    case 'array':
      return from === 'array' ? same : null;
    case 'bytea':
      return from === 'bytea' ? same : null;
  }
}

function converted(source: ColumnInfo, target: ColumnInfo, parts: ProgramParts): string {
  const c = conversion(source, target, parts);
  if (!c) throw unsupported(target, source, `a conversion from ${source.category} to ${target.category}`);
  for (const h of c.helpers) parts.helpers.add(h);
  const access = propertyAccess('row', source.name);
  if (!source.nullable) return c.apply(access);
  if (target.nullable) return c === same ? access : `${access} === null ? null : ${c.apply(access)}`;
  parts.helpers.add('notNull');
  return c.apply(`notNull(${access}, ${what(target, source)})`);
}

function unsupported(target: ColumnInfo, source: ColumnInfo, needed: string): CodegenError {
  return new CodegenError(
    'UNSUPPORTED_CONVERSION',
    `${target.name} (${target.pgType}) ← ${source.name} (${source.pgType}): ferry has no faithful ${needed}.`,
    { hint: 'Give the column another origin in the plan, or hand the interpreter a written program (programOverride).' },
  );
}
