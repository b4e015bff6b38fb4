import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../setup/databases.js';
import { CORPUS } from './corpus.js';
import { createCorpusDatabases, evaluate } from './evaluate.js';
import { rulesReader } from './readers.js';

/** The description corpus read by the rules: a regression that misreads in silence fails here. */
describe('description corpus (npm run eval:descriptions)', () => {
  const dbs: TestDatabase[] = [];
  let urls: Awaited<ReturnType<typeof createCorpusDatabases>>;

  beforeAll(async () => {
    urls = await createCorpusDatabases(async (name) => {
      const db = await createTestDatabase(name);
      dbs.push(db);
      return db.url;
    });
  });
  afterAll(async () => {
    await Promise.allSettled(dbs.map((d) => d.drop()));
  });

  it('holds at least 200 descriptions over five schemas', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
    expect(new Set(CORPUS.map((c) => c.schema)).size).toBe(5);
  });

  it('reads no description wrong, and most right', async () => {
    const result = await evaluate(urls, rulesReader);
    for (const miss of result.misses) console.log(miss);
    console.log(result.line);
    expect(result.line).toMatch(/^descriptions: correct \d+, flagged \d+, refused \d+, wrong \d+ of \d+$/);
    expect(result.misses.filter((m) => m.startsWith('wrong'))).toEqual([]);
    expect(result.counts.wrong).toBe(0);
    expect(result.counts.correct / result.total).toBeGreaterThanOrEqual(0.85);
  });
});
