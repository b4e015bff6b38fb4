import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { measureSource, measureTree, sizeProblems } from './function-size.js';

const REPO = resolve(__dirname, '../..');

/** The longest a function under src/, agents/ or sandbox/ may be. */
const MAX_LINES = 80;

/**
 * Functions allowed to be longer: none. An exception would be named here with why; an entry
 * that is no longer too long fails the test, so the list cannot go stale.
 */
const ALLOWED: ReadonlyArray<{ file: string; name: string }> = [];

describe('function size', () => {
  it(`keeps every function under src/, agents/ and sandbox/ at ${MAX_LINES} lines or fewer`, () => {
    const sizes = measureTree(REPO);
    // The scan really saw the tree: hundreds of functions, in all three roots.
    expect(sizes.length).toBeGreaterThan(300);
    for (const root of ['src/', 'agents/', 'sandbox/']) expect(sizes.some((f) => f.file.startsWith(root))).toBe(true);
    expect(sizeProblems(sizes, ALLOWED, MAX_LINES)).toEqual([]);
  });
});

describe('the measure', () => {
  const body = (n: number): string => Array.from({ length: n }, (_, i) => `  tally += ${i};`).join('\n');

  it('measures declarations, methods, arrows and nested callbacks, with file:line and a name', () => {
    const text = [
      'export function ledger(): void {', // line 1, 4 lines
      '  let tally = 0;',
      '  tally++;',
      '}',
      'class Kiln {',
      '  fire(heat: number): number {', // line 6, 3 lines
      '    return heat;',
      '  }',
      '}',
      'const glaze = (x: number): number => {', // line 10, 2 lines
      '  return x; };',
      'export default function (): void {}', // line 12
      'setTimeout(() => {', // line 13, 3 lines
      '  void 0;',
      '});',
      'interface Oven { bake(): void }', // a signature, not a function
    ].join('\n');
    const sizes = measureSource('src/pottery.ts', text);
    expect(sizes.map((f) => [f.line, f.name, f.lines])).toEqual([
      [1, 'ledger', 4],
      [6, 'Kiln.fire', 3],
      [10, 'glaze', 2],
      [12, '<anonymous>', 1],
      [13, '<callback of setTimeout>', 3],
    ]);
    expect(sizes.every((f) => f.file === 'src/pottery.ts')).toBe(true);
  });

  it('names each function over the limit, and each allowance that is no longer needed', () => {
    const text = [
      'export function short(): number {',
      '  let tally = 0;',
      body(3),
      '  return tally;',
      '}',
      'export const sprawling = (): number => {',
      '  let tally = 0;',
      body(80),
      '  return tally;',
      '}',
      'export function tolerated(): number {',
      '  let tally = 0;',
      body(80),
      '  return tally;',
      '}',
    ].join('\n');
    const sizes = measureSource('agents/ledger/post.ts', text);
    const problems = sizeProblems(
      sizes,
      [
        { file: 'agents/ledger/post.ts', name: 'tolerated' },
        { file: 'agents/ledger/post.ts', name: 'short' },
      ],
      80,
    );
    expect(problems).toEqual([
      'agents/ledger/post.ts:8 sprawling (84 lines) is longer than 80 lines: split it',
      'agents/ledger/post.ts short is allowed to be long but is not (or no longer exists): remove it from ALLOWED',
    ]);
    // A function of exactly the limit passes.
    expect(sizeProblems(measureSource('a.ts', `function edge() {\n${body(78)}\n}`), [], 80)).toEqual([]);
    expect(sizeProblems(measureSource('a.ts', `function edge() {\n${body(79)}\n}`), [], 80)).toEqual([
      'a.ts:1 edge (81 lines) is longer than 80 lines: split it',
    ]);
  });
});
