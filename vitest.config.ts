import { defineConfig } from 'vitest/config';

/**
 * Tests that need neither PostgreSQL nor Docker (`npm run test:unit`). Everything else is
 * the `integration` project, the only one that starts the embedded PostgreSQL.
 */
const UNIT_TESTS = [
  'test/claude/model-client.test.ts',
  'test/code-interpreter/conversions.test.ts',
  'test/orchestrator/bulk-parts.test.ts',
  'test/sandbox/logs.test.ts',
  'test/sandbox/protocol.test.ts',
  'test/sql.test.ts',
  'test/cli/terminal-text.test.ts',
  'test/cli/commands.test.ts',
];

const shared = {
  // Docker and PostgreSQL work is slow on 2 shared cores; these are hang guards, not speed limits.
  testTimeout: 180_000,
  hookTimeout: 180_000,
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
