import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from './setup/databases.js';

describe('embedded PostgreSQL', () => {
  it('gives each test file a database of its own', async () => {
    const db = await createTestDatabase('smoke');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const r = await c.query<{ d: string }>('select current_database() as d');
      expect(r.rows[0]?.d).toBe(db.name);
    } finally {
      await c.end();
      await db.drop();
    }
  });
});
