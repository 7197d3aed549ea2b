/**
 * The local response cache's in-memory index: keys whose low bits collide probe to their own slots, the
 * table grows past its first capacity without losing an entry, and dead entries and those of deleted
 * segments drop out.
 */
import { describe, expect, it } from 'vitest';
import { ResponseCacheIndex } from '../../orchestrator/src/store/response-cache-index.ts';

describe('the response cache index', () => {
  it('keeps keys apart that share their low bits, through growth', () => {
    const index = new ResponseCacheIndex(4);
    // Every key starts probing at slot 0: only the high half tells them apart.
    for (let n = 0; n < 100; n++) index.set(n + 1, 0, n % 3, n * 10, n + 5);
    expect(index.size).toBe(100);
    for (let n = 0; n < 100; n++) expect(index.find(n + 1, 0)).toEqual({ segment: n % 3, offset: n * 10, length: n + 5 });
    expect(index.find(101, 0)).toBeUndefined();
  });

  it('a later set of a key replaces its location; a killed key is a miss until set again, and keys after it in the probe still resolve', () => {
    const index = new ResponseCacheIndex(8);
    index.set(1, 7, 0, 0, 10);
    index.set(2, 7, 0, 10, 10);
    index.set(1, 7, 1, 0, 20);
    expect(index.find(1, 7)).toEqual({ segment: 1, offset: 0, length: 20 });
    index.kill(1, 7);
    expect(index.find(1, 7)).toBeUndefined();
    expect(index.find(2, 7)).toEqual({ segment: 0, offset: 10, length: 10 });
    index.set(1, 7, 2, 30, 10);
    expect(index.find(1, 7)).toEqual({ segment: 2, offset: 30, length: 10 });
    expect(index.size).toBe(2);
  });

  it('compaction drops the entries of deleted segments and dead ones, and keeps the rest', () => {
    const index = new ResponseCacheIndex(16);
    for (let n = 0; n < 6; n++) index.set(n, n, n % 2, n, 1);
    // Entry 5 is in the segment kept, but found damaged.
    index.kill(5, 5);
    index.compact((segment) => segment === 1);
    expect(index.size).toBe(2);
    expect([0, 1, 2, 3, 4, 5].map((n) => index.find(n, n) !== undefined)).toEqual([false, true, false, true, false, false]);
  });
});
