import pg from 'pg';
import { createLegacyDatabase, createTargetDatabase } from '../../src/demo/seed-case.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

/** Runs one DDL/seed script on a database. */
export async function runScript(url: string, script: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(script);
  } finally {
    await c.end();
  }
}

/** A legacy and a target database, fresh for one test file. */
export interface DatabasePair {
  legacy: TestDatabase;
  target: TestDatabase;
  /** Runs SQL on one of them (for planting edge cases). */
  sql(db: 'legacy' | 'target', text: string, params?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

/** The case-study databases. */
export type SeedCase = DatabasePair;

/** Two fresh databases, each set up by its own function. */
export async function createDatabasePair(
  prefix: string,
  setup: { legacy: (url: string) => Promise<void>; target: (url: string) => Promise<void> },
): Promise<DatabasePair> {
  const legacy = await createTestDatabase(`${prefix}legacy`);
  const target = await createTestDatabase(`${prefix}target`);
  await setup.legacy(legacy.url);
  await setup.target(target.url);
  return {
    legacy,
    target,
    async sql(db, text, params) {
      const c = new pg.Client({ connectionString: db === 'legacy' ? legacy.url : target.url });
      await c.connect();
      try {
        return await c.query(text, params);
      } finally {
        await c.end();
      }
    },
    async drop() {
      await legacy.drop();
      await target.drop();
    },
  };
}

export function createSeedCase(): Promise<SeedCase> {
  return createDatabasePair('', { legacy: createLegacyDatabase, target: createTargetDatabase });
}
