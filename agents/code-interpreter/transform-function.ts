import type TS from 'typescript';
import type { EnumTypeInfo } from '../../src/core/artifacts/schema-analysis.js';
import { CodegenError } from '../../src/core/errors.js';
import type { ProgramColumn } from './resolve.js';
import { jsonTypeOf } from './row-types.js';
import { typescript } from './typescript.js';
import { commentText, pascalCase, tsString, type NameAllocator } from './ts-text.js';

type TransformColumn = Extract<ProgramColumn, { kind: 'transform' }>;

/** What of the program being assembled a model-written function needs. */
export interface TransformParts {
  names: NameAllocator;
  typeImports: Set<string>;
  declarations: string[];
  enumType(info: EnumTypeInfo): string;
}

/** The parameter and return type a function for `column` must have, as TypeScript text. */
export function transformSignature(column: TransformColumn, enumName: string | undefined, sourceRowName: string): { param: string; returns: string } {
  const base = jsonTypeOf(column.target, enumName);
  const returns = column.target.nullable && base !== 'unknown' ? `${base} | null` : base;
  return { param: `Pick<${sourceRowName}, ${column.sources.map((s) => tsString(s.name)).join(' | ')}>`, returns };
}

/**
 * A function body must be exactly a function body: parsed on its own, `function f(row) {<body>}`
 * must be one statement ending where the text ends. A body that closes the function early to
 * declare something else at the top level is refused here, before any type-check.
 */
export function checkFunctionBody(target: string, body: string): void {
  const text = `function f(row) {\n${body}\n}`;
  const ts = typescript();
  const file = ts.createSourceFile('body.ts', text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const diagnostics = (file as unknown as { parseDiagnostics?: TS.Diagnostic[] }).parseDiagnostics ?? [];
  const only = file.statements[0];
  if (diagnostics.length > 0 || file.statements.length !== 1 || !only || !ts.isFunctionDeclaration(only) || only.end !== text.length) {
    throw new CodegenError('TRANSFORM_INVALID', `the function written for ${target} is not a single function body${diagnostics[0] ? `: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, ' ')}` : ''}`, {
      hint: 'the body may only use its parameter `row` and return the value',
    });
  }
}

/**
 * Declares the model-written function for one column and returns the call that fills it. The
 * function sees only the source columns the plan names for it (a Pick of SourceRow) and must
 * return the target column's type, so the type-check holds it to the plan.
 */
export function transformCall(column: TransformColumn, parts: TransformParts, bodies: ReadonlyMap<string, string>, sourceRowName: string, enumInfo: EnumTypeInfo | undefined): string {
  const body = bodies.get(column.target.name);
  if (body === undefined) {
    throw new CodegenError('TRANSFORM_NOT_WRITTEN', `${column.target.name} needs a model-written function (${column.description}) and none was given`, {
      hint: 'run with a model (ANTHROPIC_API_KEY, ferry run --llm claude), or change the column origin in review',
    });
  }
  checkFunctionBody(column.target.name, body);
  const enumName = enumInfo ? parts.enumType(enumInfo) : undefined;
  const { param, returns } = transformSignature(column, enumName, sourceRowName);
  const base = pascalCase(column.target.name);
  const name = parts.names.take(`${base.charAt(0).toLowerCase()}${base.slice(1)}From`);
  const indented = body
    .trim()
    .split('\n')
    .map((l) => (l.trim() === '' ? '' : `  ${l}`))
    .join('\n');
  parts.declarations.push(
    [
      '/**',
      ` * ${commentText(`${column.target.name} ← ${column.sources.map((s) => s.name).join(', ')}: ${column.description}`)}`,
      ' * Written by a model for this plan: held to the row types like the rest, run only in the sandbox.',
      ' */',
      `function ${name}(row: ${param}): ${returns} {`,
      indented,
      '}',
    ].join('\n'),
  );
  return `${name}(row)`;
}
