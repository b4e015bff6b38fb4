import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkGraph, layerOf, readImports, unitOf, type ImportEdge } from './layers.js';

const REPO = resolve(__dirname, '../..');

describe('the tree', () => {
  it('imports only downward and has no folder loops', () => {
    const edges = readImports(REPO);
    // The scan really saw the tree: core is imported from agents and from sandbox.
    expect(edges.some((e) => e.from.startsWith('agents/') && e.to.startsWith('src/core/'))).toBe(true);
    expect(edges.some((e) => e.from.startsWith('sandbox/') && e.to.startsWith('src/core/'))).toBe(true);
    expect(checkGraph(edges)).toEqual([]);
  });
});

describe('the checker', () => {
  const edge = (from: string, to: string, specifier = to): ImportEdge => ({ from, to, specifier });

  it('places files in layers and folders', () => {
    expect(layerOf('src/core/llm/kiln.ts')).toBe(0);
    expect(layerOf('sandbox/harness/x.ts')).toBe(1);
    expect(layerOf('src/ledger/posting.ts')).toBe(2);
    expect(layerOf('test/ledger/posting.test.ts')).toBe(4);
    expect(layerOf('docs/notes.ts')).toBe(-1);
    expect(unitOf('src/core/plan/x.ts')).toBe('src/core/plan');
    expect(unitOf('src/core/sql.ts')).toBe('src/core/sql.ts');
    expect(unitOf('src/ledger/deep/x.ts')).toBe('src/ledger');
    expect(unitOf('src/chain.ts')).toBe('src/chain.ts');
    expect(unitOf('agents/planning/claude/x.ts')).toBe('agents/planning');
    expect(unitOf('sandbox/harness/x.ts')).toBe('sandbox');
  });

  it('names the file and the import of an upward import', () => {
    const problems = checkGraph([
      edge('src/core/artifacts/tally.ts', 'src/ledger/posting.ts', '../../ledger/posting.js'),
      edge('sandbox/jail.ts', 'src/core/errors.ts'),
      edge('agents/oracle/ask.ts', 'src/ledger/posting.ts', '../../src/ledger/posting.js'),
      edge('bench/load.ts', 'test/helpers/rows.ts', '../test/helpers/rows.js'),
    ]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain("src/core/artifacts/tally.ts imports '../../ledger/posting.js'");
    expect(problems[0]).toContain('core may not import application');
    expect(problems[1]).toContain("agents/oracle/ask.ts imports '../../src/ledger/posting.js'");
    expect(problems[1]).toContain('agents and sandbox may not import application');
    expect(problems[2]).toContain('tools may not import tests');
  });

  it('finds a folder loop within one layer, directly and through a cycle', () => {
    const direct = checkGraph([
      edge('src/ledger/a.ts', 'src/audit/b.ts', '../audit/b.js'),
      edge('src/audit/c.ts', 'src/ledger/d.ts', '../ledger/d.js'),
    ]);
    expect(direct).toHaveLength(1);
    expect(direct[0]).toContain('folder loop between src/audit, src/ledger');
    expect(direct[0]).toContain("src/ledger/a.ts imports '../audit/b.js'");
    expect(direct[0]).toContain("src/audit/c.ts imports '../ledger/d.js'");

    const through = checkGraph([
      edge('src/ledger/a.ts', 'src/audit/b.ts'),
      edge('src/audit/b.ts', 'src/report.ts'),
      edge('src/report.ts', 'src/ledger/z.ts'),
      edge('src/report.ts', 'src/core/errors.ts'),
    ]);
    expect(through).toHaveLength(1);
    expect(through[0]).toContain('folder loop between src/audit, src/ledger, src/report.ts');
  });

  it('accepts a downward graph and imports inside one folder', () => {
    expect(
      checkGraph([
        edge('src/ledger/a.ts', 'src/ledger/b.ts'),
        edge('src/ledger/b.ts', 'src/ledger/a.ts'),
        edge('src/ledger/a.ts', 'agents/oracle/ask.ts'),
        edge('agents/oracle/ask.ts', 'agents/scout/look.ts'),
        edge('agents/scout/look.ts', 'src/core/sql.ts'),
      ]),
    ).toEqual([]);
  });

  describe('reading imports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-layers-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (path: string, text: string): void => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };

    it('sees static, re-export, type-only and dynamic imports, not comments or strings', () => {
      write('src/core/kiln.ts', [
        "import { glaze } from '../ledger/glaze.js';",
        "export * from '../audit/index.js';",
        "import type { Row } from './row.js';",
        "// import { nope } from '../commented/out.js';",
        "const text = \"import('../in/a-string.js')\";",
        "export async function fire() { return import('../oven/heat.js'); }",
        "import 'pg';",
      ].join('\n'));
      write('src/ledger/glaze.ts', "export const glaze = 1;\n");
      const edges = readImports(dir, ['src']);
      expect(edges.map((e) => e.to).sort()).toEqual([
        'src/audit/index.ts',
        'src/core/row.ts',
        'src/ledger/glaze.ts',
        'src/oven/heat.ts',
      ]);
      const problems = checkGraph(edges);
      expect(problems.some((p) => p.includes("src/core/kiln.ts imports '../oven/heat.js'"))).toBe(true);
      expect(problems.some((p) => p.includes("src/core/kiln.ts imports '../ledger/glaze.js'"))).toBe(true);
    });
  });
});
