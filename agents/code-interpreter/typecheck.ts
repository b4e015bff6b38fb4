import { dirname, join } from 'node:path';
import type TS from 'typescript';
import type { Diagnostic } from '../../src/core/artifacts/generated-script.js';
import { typescript } from './typescript.js';

/**
 * Type-checks a transform program against its row types, in memory, with the installed
 * TypeScript. The program sees ES2022 and a console, nothing of Node or the DOM: it is a pure
 * function, so `process`, `require` or an import of `fs` fail here, before any container.
 */

/** Where the in-memory files live; diagnostics name files relative to it. */
const ROOT = '/ferry-program';
const PROGRAM = `${ROOT}/program.ts`;
const ROW_TYPES = `${ROOT}/row-types.ts`;
const CONTRACT = `${ROOT}/program-contract.ts`;
const GLOBALS = `${ROOT}/sandbox-globals.d.ts`;

const LIB = 'lib.es2022.d.ts';

/** The compiler options (a function: TypeScript is loaded on first use, see ./typescript.ts). */
const options = (ts: typeof TS): TS.CompilerOptions => ({
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  // Extensionless './row-types' and './program', as esbuild resolves them when bundling.
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: [LIB],
  types: [],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitReturns: true,
  noFallthroughCasesInSwitch: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
  // The lib files are TypeScript's own; checking them on every call costs time and finds nothing.
  skipLibCheck: true,
  noEmit: true,
});

/**
 * The harness calls `transform(row)` and sends back what it returns, so the program must
 * export exactly that shape. A return type wider than ProgramOutput (a column the target
 * does not have) is named here even when the program did not annotate its return type.
 */
const CONTRACT_TEXT = `import type { ProgramOutput, SourceRow } from './row-types';
import { transform } from './program';

export const transformMatchesTheHarnessContract: (row: SourceRow) => ProgramOutput = transform;

type ColumnsNotInProgramOutput = Exclude<keyof ReturnType<typeof transform>, keyof ProgramOutput>;
export const returnsOnlyProgramOutputColumns: [ColumnsNotInProgramOutput] extends [never]
  ? true
  : { columnsNotInProgramOutput: ColumnsNotInProgramOutput } = true;
`;

/** Logs go to the program's stdout/stderr, which the orchestrator reads as its log. */
const GLOBALS_TEXT = `declare var console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  debug(...data: unknown[]): void;
};
`;

/**
 * What the check depends on besides the program and row types: its files and options. Part of
 * the key a pass is cached under (typecheck-cache.ts); bump `setup` when \`options\` change.
 */
export const TYPECHECK_SETUP = JSON.stringify({ setup: 1, lib: LIB, contract: CONTRACT_TEXT, globals: GLOBALS_TEXT });

export interface TypecheckResult {
  ok: boolean;
  diagnostics: Diagnostic[];
}

let libDirOnce: string | undefined;
const libDirectory = (): string => (libDirOnce ??= dirname(typescript().getDefaultLibFilePath(options(typescript()))));

/**
 * Parsed lib files, shared by every check: parsing and binding lib.es2022 and its references
 * is most of a cold check's cost, and a SourceFile is immutable once bound.
 */
const libFiles = new Map<string, TS.SourceFile>();
let previous: TS.Program | undefined;

function cacheKey(fileName: string, version: TS.ScriptTarget | TS.CreateSourceFileOptions): string {
  return typeof version === 'object' ? `${fileName}|${version.languageVersion}|${version.impliedNodeFormat ?? ''}` : `${fileName}|${version}`;
}

function createHost(files: ReadonlyMap<string, string>): TS.CompilerHost {
  const ts = typescript();
  const libDir = libDirectory();
  const isLib = (fileName: string) => fileName.startsWith(`${libDir}/`);
  return {
    getSourceFile(fileName, version) {
      const text = files.get(fileName);
      if (text !== undefined) return ts.createSourceFile(fileName, text, version, true);
      if (!isLib(fileName)) return undefined;
      const key = cacheKey(fileName, version);
      let file = libFiles.get(key);
      if (!file) {
        const libText = ts.sys.readFile(fileName);
        if (libText === undefined) return undefined;
        file = ts.createSourceFile(fileName, libText, version, false);
        libFiles.set(key, file);
      }
      return file;
    },
    getDefaultLibFileName: () => join(libDir, LIB),
    getDefaultLibLocation: () => libDir,
    writeFile: () => {},
    getCurrentDirectory: () => ROOT,
    getCanonicalFileName: (fileName) => fileName,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => '\n',
    fileExists: (fileName) => files.has(fileName) || (isLib(fileName) && ts.sys.fileExists(fileName)),
    readFile: (fileName) => files.get(fileName) ?? (isLib(fileName) ? ts.sys.readFile(fileName) : undefined),
    directoryExists: (dir) => dir === ROOT || dir === libDir || isLib(dir),
    getDirectories: () => [],
  };
}

function displayName(fileName: string): string {
  const libDir = libDirectory();
  if (fileName.startsWith(`${ROOT}/`)) return fileName.slice(ROOT.length + 1);
  if (fileName.startsWith(`${libDir}/`)) return fileName.slice(libDir.length + 1);
  return fileName;
}

function toDiagnostic(d: TS.Diagnostic): Diagnostic {
  let line: number | null = null;
  let column: number | null = null;
  if (d.file && d.start !== undefined) {
    const at = d.file.getLineAndCharacterOfPosition(d.start);
    line = at.line + 1;
    column = at.character + 1;
  }
  return {
    file: d.file ? displayName(d.file.fileName) : '',
    line,
    column,
    code: d.code,
    message: typescript().flattenDiagnosticMessageText(d.messageText, '\n'),
  };
}

/** Type-checks `program.ts` against `row-types.ts` and the harness contract. Synchronous. */
export function typecheckProgram(input: { program: string; rowTypes: string }): TypecheckResult {
  const files = new Map([
    [PROGRAM, input.program],
    [ROW_TYPES, input.rowTypes],
    [CONTRACT, CONTRACT_TEXT],
    [GLOBALS, GLOBALS_TEXT],
  ]);
  const ts = typescript();
  const program = ts.createProgram({
    rootNames: [PROGRAM, ROW_TYPES, CONTRACT, GLOBALS],
    options: options(ts),
    host: createHost(files),
    ...(previous ? { oldProgram: previous } : {}),
  });
  previous = program;
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  return { ok: diagnostics.length === 0, diagnostics: diagnostics.map(toDiagnostic) };
}

/** One line per diagnostic: `program.ts:12:5 TS2339 Property 'x' does not exist on type 'SourceRow'.` */
export function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .map((d) => {
      const where = d.line === null ? d.file || '(options)' : `${d.file}:${d.line}:${d.column ?? 1}`;
      return `${where} TS${d.code} ${d.message.replace(/\n/g, '\n    ')}`;
    })
    .join('\n');
}
