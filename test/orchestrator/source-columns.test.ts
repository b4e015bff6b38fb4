import { describe, expect, it } from 'vitest';
import type { MigrationPlan } from '../../src/core/artifacts/migration-plan.js';
import type { ColumnInfo, TableInfo } from '../../src/core/artifacts/schema-analysis.js';
import { sourceQuery } from '../../src/orchestrator/prepare.js';

const column = (name: string, pgType: string, extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
  name,
  ordinal: 1,
  pgType,
  category: 'string',
  nullable: true,
  default: null,
  isIdentity: false,
  isGenerated: false,
  maxLength: null,
  ...extra,
});

describe('how the run reads source columns', () => {
  // sourceQuery reads only the columns of the analysed table.
  const table = {
    columns: [
      column('code', 'character(3)'),
      column('iso', 'public.iso_code', { blankPadded: true }),
      column('bare', 'bpchar'),
      column('title', 'character varying(255)'),
      column('features', 'text[]', { category: 'array' }),
      column('film_id', 'integer', { category: 'integer' }),
    ],
  } as unknown as TableInfo;
  const plan = { source: { schema: 'public', table: 'film', key: 'film_id', columns: table.columns.map((c) => c.name), filters: [] } } as unknown as MigrationPlan;

  it('blank-padded character(n) (a domain over it too) and arrays as text, the rest as they are', () => {
    const q = sourceQuery(plan, table);
    expect(q.cols).toBe('"code"::text AS "code", "iso"::text AS "iso", "bare"::text AS "bare", "title", "features"::text AS "features", "film_id"');
    expect(q.column('code')).toBe('"code"::text');
    expect(q.column('title')).toBe('"title"');
  });
});
