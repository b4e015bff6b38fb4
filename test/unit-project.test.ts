import { describe, expect, inject, it } from 'vitest';

// Listed only in the `unit` project (vitest.config.ts): it proves that project starts no database.
describe('the unit project', () => {
  it('runs without the global setup that starts PostgreSQL', () => {
    expect(inject('pgAdminUrl')).toBeUndefined();
  });
});
