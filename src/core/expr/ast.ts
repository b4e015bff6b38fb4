/**
 * The column language's AST lives with the artifacts (a plan stores it: migration-plan.ts
 * imports it, and artifacts sit below expr); the language's modules import it from here.
 */
export * from '../artifacts/column-expression.js';
