import { createRequire } from 'node:module';
import type TS from 'typescript';

const require = createRequire(import.meta.url);
let loaded: typeof TS | undefined;

/**
 * TypeScript's compiler, required on first use: loading it costs a second or more, which the
 * commands that never check a program (`ferry --help`, `show`, `runs`) must not pay.
 */
export function typescript(): typeof TS {
  return (loaded ??= require('typescript') as typeof TS);
}
