import { createRequire } from 'node:module';
import { bundleProgram } from '../../agents/code-interpreter/bundle.js';
import type { GeneratedScript } from '../../src/core/artifacts/generated-script.js';

export type Transform = (row: Record<string, unknown>) => Record<string, unknown>;

const require = createRequire(import.meta.url);

/**
 * The program's transform, loaded the way the sandbox gets it: bundled by the Code
 * Interpreter's bundler (with a test entry in place of the harness), then evaluated as
 * CommonJS.
 */
export async function loadTransform(script: Pick<GeneratedScript, 'program' | 'rowTypes'>): Promise<Transform> {
  const bundle = await bundleProgram({ program: script.program, rowTypes: script.rowTypes, entry: "export { transform } from './program';\n" });
  const module = { exports: {} as { transform?: Transform } };
  new Function('module', 'exports', 'require', bundle.code)(module, module.exports, require);
  const transform = module.exports.transform;
  if (typeof transform !== 'function') throw new Error('the bundled program exports no transform function');
  return transform;
}
