import { describe, expect, it } from 'vitest';
import { describeStatus, STALE_AFTER_MS } from '../../src/control/control-tables.js';
import { BatchSizer, BATCH_TARGET_BYTES } from '../../src/orchestrator/batching.js';
import { copyErrorLine, copyLine, copyValue } from '../../src/orchestrator/copy.js';
import { formatProgress, groupThousands, Progress } from '../../src/orchestrator/progress.js';
import { BatchFailure, controlUpdateSql } from '../../src/orchestrator/write-batch.js';
import { isDataRow, newDataRow } from '../../src/core/data-row.js';
import { valueComparer } from '../../src/core/plan/expected-row.js';

describe('the bulk path, part by part', () => {
  it('writes COPY text format: NULL as \\N, escapes only what COPY reads specially', () => {
    expect(copyValue(null)).toBe('\\N');
    expect(copyValue(undefined)).toBe('\\N');
    // The string "\N" is not NULL: its backslash is escaped.
    expect(copyValue('\\N')).toBe('\\\\N');
    expect(copyValue('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyValue('🚢 naïve, "quoted"')).toBe('🚢 naïve, "quoted"');
    expect(copyValue(true)).toBe('t');
    expect(copyValue(false)).toBe('f');
    expect(copyValue(12.5)).toBe('12.5');
    // JSON's own escape (\t as backslash + t) gets its backslash escaped for COPY.
    expect(copyValue({ a: 'x\ty' })).toBe('{"a":"x\\\\ty"}');
    expect(copyLine(['a', null, 3])).toBe('a\t\\N\t3\n');
  });

  it('reads the failing line from a COPY error context, and nothing from other errors', () => {
    expect(copyErrorLine({ where: 'COPY items, line 17, column qty: "x"' })).toBe(17);
    expect(copyErrorLine({ where: 'COPY items, line 3\nSQL statement …' })).toBe(3);
    expect(copyErrorLine({ where: 'PL/pgSQL function f() line 3 at RAISE' })).toBeNull();
    expect(copyErrorLine(new Error('no context'))).toBeNull();
  });

  it('sizes batches by bytes: narrow rows many at a time, wide rows few, never past the plan bound', () => {
    const narrow = new BatchSizer(50_000, 100);
    expect(narrow.next()).toBe(Math.floor(BATCH_TARGET_BYTES / 200));
    const wide = new BatchSizer(50_000, 1024 * 1024);
    expect(wide.next()).toBe(2);
    const huge = new BatchSizer(50_000, 64 * 1024 * 1024);
    expect(huge.next()).toBe(1);
    expect(new BatchSizer(300, 10).next()).toBe(300);
    // Nothing known: a small first batch, then learned from what came back.
    const learning = new BatchSizer(50_000);
    expect(learning.next()).toBe(100);
    learning.observe(Array.from({ length: 100 }, (_, i) => ({ k: String(i), r: { note: 'x'.repeat(10_000) } })));
    expect(learning.next()).toBeGreaterThan(150);
    expect(learning.next()).toBeLessThan(250);
  });

  it('says rows, rate and time left', () => {
    const p = new Progress(1000);
    const f = p.add(250);
    expect(f).toMatchObject({ done: 250, total: 1000 });
    expect(formatProgress({ done: 412_000, total: 1_000_000, rowsPerSec: 98_200, etaSeconds: 6, elapsedMs: 1 })).toBe('412,000/1,000,000 rows (41%) · 98,200 rows/s · ETA 6s');
    expect(formatProgress({ done: 1, total: 10, rowsPerSec: 0, etaSeconds: null, elapsedMs: 1 })).toBe('1/10 rows (10%) · 0 rows/s');
  });

  it('groups thousands as en-US does, without loading ICU for it', () => {
    for (const x of [0, 7, 999, 1000, 10_000, 123_456, 1_000_000, 98_765_432, -1, -1234, -1_000_000, Number.MAX_SAFE_INTEGER, 2.5, 1234.5678]) {
      expect(groupThousands(x)).toBe(x.toLocaleString('en-US'));
    }
    expect(groupThousands(1_234_567)).toBe('1,234,567');
  });

  it('calls a running run with no heartbeat stale, and a live one running', () => {
    const now = Date.now();
    expect(describeStatus({ status: 'running', heartbeatAt: new Date(now - 5_000) }, now)).toBe('running');
    expect(describeStatus({ status: 'running', heartbeatAt: new Date(now - STALE_AFTER_MS - 30_000) }, now)).toMatch(/^running\? no heartbeat for 90 s \(stale/);
    expect(describeStatus({ status: 'failed', heartbeatAt: new Date(0) }, now)).toBe('failed');
  });

  it('puts the control counters and the commit in one string, only ever with integers in it', () => {
    expect(controlUpdateSql(42, 7_692)).toBe(
      'UPDATE ferry_control.migration_control SET rows_inserted = rows_inserted + 7692, batches_committed = batches_committed + 1, heartbeat_at = now() WHERE id = 42',
    );
    for (const [id, n] of [[1.5, 3], [1, Number.NaN], [2, 2 ** 60]] as const) {
      expect(() => controlUpdateSql(id, n)).toThrow(BatchFailure);
    }
  });

  it('makes data rows that inherit nothing: a column named __proto__ or constructor is data', () => {
    const a = newDataRow();
    a['__proto__'] = 'shelf 3';
    a['constructor'] = 'x';
    expect(Object.keys(a)).toEqual(['__proto__', 'constructor']);
    expect(a['__proto__']).toBe('shelf 3');
    expect(JSON.parse(JSON.stringify(a))).toEqual({ ['__proto__']: 'shelf 3', constructor: 'x' });
    const b = newDataRow();
    expect('toString' in b || 'hasOwnProperty' in b || 'constructor' in b).toBe(false);
    expect(isDataRow(b) && !isDataRow({})).toBe(true);
  });

  it('compares a value the program returned unchanged without parsing it, and changed ones by their type as before', () => {
    const uuid = valueComparer({ category: 'uuid', pgType: 'uuid' });
    expect(uuid('0f8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950e')).toBe(true);
    expect(uuid('0F8FAD5B-D9CB-469F-A165-70867728950E', '0f8fad5b-d9cb-469f-a165-70867728950e')).toBe(true);
    expect(uuid('0f8fad5b-d9cb-469f-a165-70867728950e', '1f8fad5b-d9cb-469f-a165-70867728950e')).toBe(false);
    const text = valueComparer({ category: 'string', pgType: 'text' });
    expect(text('02134', '02134')).toBe(true);
    expect(text('02134', '2134')).toBe(false);
    const float = valueComparer({ category: 'float', pgType: 'double precision' });
    expect(float(Number.NaN, Number.NaN)).toBe(true);
    expect(float(0.1, 0.1)).toBe(true);
    const int = valueComparer({ category: 'integer', pgType: 'integer' });
    expect(int(7, '7')).toBe(true);
    expect(int(7, 8)).toBe(false);
    // Null is not a value: the same null still goes through the null rule (both null: equal).
    expect(int(null, null)).toBe(true);
    expect(int(null, 0)).toBe(false);
  });
});

