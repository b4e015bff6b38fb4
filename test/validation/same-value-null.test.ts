import { describe, expect, it } from 'vitest';
import type { TypeCategory } from '../../src/core/artifacts/schema-analysis.js';
import { sameValue } from '../../src/core/plan/expected-row.js';

const col = (category: TypeCategory, pgType: string) => ({ category, pgType });

// No database needed (unit project); the typed comparisons against PostgreSQL are in same-value.test.ts.
describe('sameValue compares by the target column type', () => {
  it('null equals only null', () => {
    expect(sameValue(col('string', 'text'), null, null)).toBe(true);
    expect(sameValue(col('string', 'text'), null, '')).toBe(false);
    expect(sameValue(col('integer', 'integer'), 0, null)).toBe(false);
    expect(sameValue(col('json', 'jsonb'), null, 'null')).toBe(false);
  });
});
