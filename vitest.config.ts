import { defineConfig } from 'vitest/config';

/**
 * Tests that need neither PostgreSQL nor Docker nor a ferry process (`npm run test:unit`):
 * parsers, renderers, policy, protocol, code generation on in-memory analyses. Everything
 * else is the `integration` project, the only one with the global setup that starts the
 * embedded PostgreSQL (a unit file that calls inject('pgAdminUrl') gets nothing).
 */
const UNIT_TESTS = [
  'test/architecture/layers.test.ts',
  'test/claude/model-client.test.ts',
  'test/cli/terminal-text.test.ts',
  'test/claude/tool-step.test.ts',
  'test/code-interpreter/conversions.test.ts',
  'test/db/redact-url-text.test.ts',
  'test/orchestrator/bulk-parts.test.ts',
  'test/sandbox/logs.test.ts',
  'test/sandbox/protocol.test.ts',
  'test/service/chromium-path.test.ts',
  'test/service/lru.test.ts',
  'test/sql.test.ts',
  'test/validation/same-value-null.test.ts',
  'test/unit-project.test.ts',
  'test/architecture/function-size.test.ts',
  'test/cli/commands.test.ts',
  'test/filters/glob-and-filter-sql.test.ts',
  'test/cli/registry.test.ts',
  'test/cli/dist-state.test.ts',
  'test/descriptions/tokens.test.ts',
  'test/planning/legacy-key-names.test.ts',
  'test/orchestrator/source-columns.test.ts',
];

const shared = {
  // Docker and PostgreSQL work is slow on 2 shared cores (a CLI test spawns ferry a dozen
  // times); these are hang guards, not speed limits.
  testTimeout: 300_000,
  hookTimeout: 300_000,
};

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { test: { ...shared, name: 'unit', include: UNIT_TESTS } },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: UNIT_TESTS,
          globalSetup: ['test/setup/global-setup.ts'],
        },
      },
    ],
  },
});
