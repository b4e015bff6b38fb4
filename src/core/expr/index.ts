/** The column language: parse (PostgreSQL's parser) → check (types) → compile to SQL and to TypeScript. */
export { ColumnExpression, Expr, ScalarType, CastTarget, ParentHop, columnsRead } from './ast.js';
export { ALLOWED_SUMMARY, ExprError, type ExprErrorCode } from './errors.js';
export { loadExprParser, parseExpression, parseExpressionSync } from './parse.js';
export { checkExpr, checkRegexSubset, scalarTypeOf, type CheckEnv, type Typed } from './check.js';
export { compileSql, parentSubquery, SESSION_SETTINGS_SQL, DATE_PATTERN, TIMESTAMP_PATTERN, type SqlCompileOptions } from './compile-sql.js';
export { compileTs, compileTsFunction, parentKey, runtimeSource, tsTypeOf, PARENTS_PARAM, PARENT_VALUES_TYPE } from './compile-ts.js';
export { resolveParents, parentDictionarySql, parentDictionary, type NamedJoin, type ResolvedParents } from './parents.js';
export { expressionOrigin, expressionReads, parentLookups, type ExpressionContext, type ExpressionOriginValue } from './origin.js';
export { collatedCalls } from './walk.js';
