/**
 * A model of SGLang's radix cache: prompts are cut into fixed-size blocks, each keyed by a hash of the whole
 * prefix up to it, so a block is reusable only when everything before it matches, as in a radix tree.
 * Bounded in blocks, least recently used evicted first.
 */
export class PrefixCache {
  private readonly blocks = new Map<number, true>();

  constructor(
    /** Capacity in blocks; Infinity gives the ideal cache that only misses on first sight. */
    readonly capacityBlocks: number,
    readonly blockChars = 64,
  ) {}

  /** Serves one prompt: returns how many of its characters were cached, then caches all of it. */
  lookupAndInsert(keys: readonly number[]): number {
    let cachedBlocks = 0;
    while (cachedBlocks < keys.length && this.blocks.has(keys[cachedBlocks] as number)) cachedBlocks++;
    for (const key of keys) {
      this.blocks.delete(key);
      this.blocks.set(key, true);
    }
    while (this.blocks.size > this.capacityBlocks) {
      const oldest = this.blocks.keys().next().value as number;
      this.blocks.delete(oldest);
    }
    return cachedBlocks * this.blockChars;
  }
}

/** Prefix-chained block keys of a prompt (FNV-1a continued across blocks). Only whole blocks are cacheable. */
export function prefixBlockKeys(prompt: string, blockChars = 64): number[] {
  const keys: number[] = [];
  let hash = 0x811c9dc5;
  const whole = Math.floor(prompt.length / blockChars) * blockChars;
  for (let i = 0; i < whole; i++) {
    hash = Math.imul(hash ^ prompt.charCodeAt(i), 0x01000193);
    if ((i + 1) % blockChars === 0) keys.push(hash >>> 0);
  }
  return keys;
}
