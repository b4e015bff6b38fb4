import pg from 'pg';
import { createLegacyDatabase, createTargetDatabase } from '../../src/demo/seed-case.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

/** The case-study databases, fresh for one test file. */
export interface SeedCase {
  legacy: TestDatabase;
  target: TestDatabase;
  /** Runs SQL on one of them (for planting edge cases). */
  sql(db: 'legacy' | 'target', text: string, params?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

export async function createSeedCase(): Promise<SeedCase> {
  const legacy = await createTestDatabase('legacy');
  const target = await createTestDatabase('target');
  await createLegacyDatabase(legacy.url);
  await createTargetDatabase(target.url);
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
