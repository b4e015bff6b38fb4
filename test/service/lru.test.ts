import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/service/lru.js';

describe('the LRU cache behind the program route', () => {
  it('keeps at most its capacity, forgetting the least recently used', () => {
    const c = new LruCache<string, number>(3);
    for (const [k, v] of [['crate-a', 1], ['crate-b', 2], ['crate-c', 3]] as const) c.set(k, v);
    expect(c.get('crate-a')).toBe(1); // now most recent
    c.set('crate-d', 4);
    expect(c.size).toBe(3);
    expect(c.has('crate-b')).toBe(false);
    expect([c.get('crate-a'), c.get('crate-c'), c.get('crate-d')]).toEqual([1, 3, 4]);
    c.set('crate-c', 30); // replacing refreshes, does not grow
    c.set('crate-e', 5);
    expect(c.size).toBe(3);
    expect(c.has('crate-a')).toBe(false);
    expect(c.get('crate-c')).toBe(30);
  });

  it('keeps a stored undefined apart from a miss, and refuses a capacity below 1', () => {
    const c = new LruCache<string, number | undefined>(1);
    c.set('empty-bay', undefined);
    expect(c.has('empty-bay')).toBe(true);
    expect(() => new LruCache(0)).toThrow(/capacity of at least 1/);
    expect(() => new LruCache(2.5)).toThrow(RangeError);
  });

});
