import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import ts from 'typescript';

/**
 * The layer order, lowest first: the one place it is stated (docs/architecture.md explains it).
 * A file belongs to the layer of the longest folder prefix that matches it. A file may import
 * its own layer or any lower one, never a higher one; and the folders it is grouped into (see
 * unitOf) must not import each other in a loop, even within one layer.
 */
export const LAYERS: ReadonlyArray<{ name: string; folders: readonly string[] }> = [
  { name: 'core', folders: ['src/core'] },
  { name: 'agents and sandbox', folders: ['agents', 'sandbox'] },
  { name: 'application', folders: ['src'] },
  { name: 'tools', folders: ['bench', 'bin'] },
  { name: 'tests', folders: ['test'] },
];

/** The top-level folders scanned; generated fixtures are output, not code we layer. */
export const ROOTS = ['src', 'agents', 'sandbox', 'bench', 'bin', 'test'] as const;
const SKIP_DIRS = new Set(['node_modules', 'generated']);

export interface ImportEdge {
  /** repository-relative, forward slashes */
  from: string;
  to: string;
  /** the specifier as written, for the error message */
  specifier: string;
}

const posix = (p: string): string => p.split(sep).join('/');

export function layerOf(file: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((layer, index) => {
    for (const folder of layer.folders) {
      if ((file === folder || file.startsWith(`${folder}/`)) && folder.length > bestLength) {
        best = index;
        bestLength = folder.length;
      }
    }
  });
  return best;
}

/**
 * The "folder" a file counts under for loops: src/core/<x>, src/<x>, agents/<x>; a file
 * lying loose in src/ or src/core/ is its own unit (src/chain.ts); other roots are one unit
 * each (sandbox, bench), except test/<x>.
 */
export function unitOf(file: string): string {
  const parts = file.split('/');
  const [root, second, third] = parts;
  if (root === 'src' && second === 'core') return parts.length > 3 ? `src/core/${third}` : file;
  if (root === 'src' || root === 'agents' || root === 'test') return parts.length > 2 ? `${root}/${second}` : file;
  return root ?? file;
}

function listSources(repo: string, dir: string): string[] {
  let out: string[] = [];
  let entries;
  try {
    entries = readdirSync(join(repo, dir), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out = out.concat(listSources(repo, path));
    } else if (/\.(ts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Every relative import of every source file under the roots: static imports, `export … from`,
 * side-effect imports, `import type` and dynamic `import(…)` (TypeScript's own pre-parser, so
 * comments and strings are not mistaken for imports). Package imports are not edges.
 */
export function readImports(repo: string, roots: readonly string[] = ROOTS): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const root of roots) {
    for (const file of listSources(repo, root)) {
      const text = readFileSync(join(repo, file), 'utf8');
      for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
        if (!specifier.startsWith('.')) continue;
        // NodeNext writes .js for .ts sources; the layer is the same either way.
        const to = posix(normalize(join(dirname(file), specifier))).replace(/\.js$/, '.ts');
        edges.push({ from: file, to, specifier });
      }
    }
  }
  return edges;
}

/** Problems in a graph: upward imports and folder loops, each naming files and imports. */
export function checkGraph(edges: readonly ImportEdge[]): string[] {
  const problems: string[] = [];
  for (const edge of edges) {
    const from = layerOf(edge.from);
    const to = layerOf(edge.to);
    if (from === -1 || to === -1) {
      problems.push(`${edge.from} imports '${edge.specifier}' (${edge.to}): not in any layer; add its folder to LAYERS in test/architecture/layers.ts`);
    } else if (to > from) {
      problems.push(
        `upward import: ${edge.from} imports '${edge.specifier}' (${edge.to}); ` +
          `${LAYERS[from]!.name} may not import ${LAYERS[to]!.name}. Move the shared piece down instead.`,
      );
    }
  }
  for (const loop of folderLoops(edges)) problems.push(loop);
  return problems;
}

/** Folder graph cycles (Tarjan's strongly connected components), one message per loop. */
function folderLoops(edges: readonly ImportEdge[]): string[] {
  const example = new Map<string, ImportEdge>();
  const next = new Map<string, Set<string>>();
  for (const edge of edges) {
    const a = unitOf(edge.from);
    const b = unitOf(edge.to);
    if (a === b) continue;
    if (!next.has(a)) next.set(a, new Set());
    next.get(a)!.add(b);
    if (!example.has(`${a}\0${b}`)) example.set(`${a}\0${b}`, edge);
  }

  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node);

  return components.map((component) => {
    const members = new Set(component);
    const imports = [...example.entries()]
      .filter(([key]) => {
        const [a, b] = key.split('\0') as [string, string];
        return members.has(a) && members.has(b);
      })
      .map(([, edge]) => `${edge.from} imports '${edge.specifier}'`);
    return `folder loop between ${component.join(', ')}: ${imports.join('; ')}. Move the shared piece into a lower folder.`;
  });
}
