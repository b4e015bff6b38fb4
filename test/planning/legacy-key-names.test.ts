import { describe, expect, it } from 'vitest';
import { isLegacyKeyColumn } from '../../agents/planning/columns.js';

describe('a target column named for the legacy key', () => {
  it('is an id with a marker, whatever the key is called', () => {
    for (const name of ['legacy_role_id', 'old_id', 'source_id', 'dispatch_role_legacy_id']) expect(isLegacyKeyColumn(name, 'code')).toBe(true);
    expect(isLegacyKeyColumn('role_id', 'id')).toBe(false);
  });
  it('or a marker beside the key’s own name when the key is not an id', () => {
    expect(isLegacyKeyColumn('legacy_code', 'code')).toBe(true);
    expect(isLegacyKeyColumn('old_isbn', 'isbn')).toBe(true);
    expect(isLegacyKeyColumn('original_sku_number', 'sku_number')).toBe(true);
    expect(isLegacyKeyColumn('legacy_code', 'film_id')).toBe(false);
    expect(isLegacyKeyColumn('legacy_notes', 'code')).toBe(false);
    expect(isLegacyKeyColumn('code', 'code')).toBe(false);
    expect(isLegacyKeyColumn('legacy_code')).toBe(false);
  });
});
