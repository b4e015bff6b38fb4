export * from './hash.js';
export * from './generator.js';
export * from './schema-analysis.js';
export * from './migration-plan.js';
export * from './generated-script.js';
export * from './sandbox-run.js';
export * from './validation-report.js';
export * from './description-reading.js';
