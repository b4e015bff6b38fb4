import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

/** The folders whose functions are measured; bench/ and test/ are tools and tests, not ferry. */
export const MEASURED_ROOTS = ['src', 'agents', 'sandbox'] as const;
const SKIP_DIRS = new Set(['node_modules', 'generated']);

export interface FunctionSize {
  /** repository-relative, forward slashes */
  file: string;
  /** 1-based line of the function's first token */
  line: number;
  name: string;
  /** lines from the first token to the closing token, both included */
  lines: number;
}

/** A readable name: the declaration's own, else what it is assigned to, else its position. */
function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  const own = node.name;
  const owner = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
  if (ts.isConstructorDeclaration(node)) return `${owner}constructor`;
  if (own && (ts.isIdentifier(own) || ts.isStringLiteral(own) || ts.isPrivateIdentifier(own))) {
    return `${owner}${own.text}`;
  }
  if (own) return `${owner}${own.getText(source)}`;
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  if (ts.isCallExpression(parent)) return `<callback of ${parent.expression.getText(source).slice(0, 40)}>`;
  return '<anonymous>';
}

/** Every function-like node in one source text, with its length in lines (nested ones too). */
export function measureSource(file: string, text: string): FunctionSize[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: FunctionSize[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const fn = node as ts.FunctionLikeDeclaration;
      const first = source.getLineAndCharacterOfPosition(fn.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(fn.getEnd()).line;
      found.push({ file, line: first + 1, name: nameOf(fn, source), lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...listSources(join(dir, entry.name)));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(join(dir, entry.name));
    }
  }
  return out;
}

/** Every function under the measured roots of a repository. */
export function measureTree(repo: string, roots: readonly string[] = MEASURED_ROOTS): FunctionSize[] {
  return roots.flatMap((root) =>
    listSources(join(repo, root)).flatMap((path) =>
      measureSource(relative(repo, path).split(sep).join('/'), readFileSync(path, 'utf8')),
    ),
  );
}

const describeSize = (f: FunctionSize): string => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`;

/** Problems: every function over the limit that is not allowed, and every allowance no longer needed. */
export function sizeProblems(
  sizes: readonly FunctionSize[],
  allowed: ReadonlyArray<{ file: string; name: string }>,
  max: number,
): string[] {
  const isAllowed = (f: FunctionSize): boolean => allowed.some((a) => a.file === f.file && a.name === f.name);
  const tooLong = sizes.filter((f) => f.lines > max);
  const problems = tooLong
    .filter((f) => !isAllowed(f))
    .map((f) => `${describeSize(f)} is longer than ${max} lines: split it`);
  for (const a of allowed) {
    if (!tooLong.some((f) => f.file === a.file && f.name === a.name)) {
      problems.push(`${a.file} ${a.name} is allowed to be long but is not (or no longer exists): remove it from ALLOWED`);
    }
  }
  return problems;
}
