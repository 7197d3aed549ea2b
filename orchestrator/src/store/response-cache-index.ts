/**
 * Where each response cache entry lies on disk, by key, in typed arrays: a full 2 GiB cache holds about three
 * million answers of 650 bytes, which as a Map of 64-character strings would take most of a gigabyte; here a
 * slot takes 20 bytes in a table kept at most three quarters full (linear probing stays short there).
 *
 * An entry is found by its key's first 64 bits (a SHA-256, so they are evenly spread); two keys sharing them
 * share one slot, the later put winning, and a reader compares the whole key the record holds, so a shared
 * slot costs at most a question asked again.
 */

/** No entry in the slot (segment references start at 1). */
const EMPTY = 0;
/** An entry found corrupt: its slot stays taken, so the probe sequence of other keys does not break. */
const DEAD = 0xffff_ffff;
const FIRST_CAPACITY = 1024;
/**
 * A slot's five u32 side by side (key high, key low, segment + 1, offset, length), so a lookup touches one
 * cache line, not five arrays: at millions of entries every probe is a miss of the CPU's caches.
 */
const STRIDE = 5;
const HIGH = 0;
const LOW = 1;
const SEGMENT = 2;
const OFFSET = 3;
const LENGTH = 4;

export interface EntryLocation {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

export class ResponseCacheIndex {
  private slots: Uint32Array;
  private capacity: number;
  private used = 0;

  /** `capacity`: slots to start with, a power of two (a slot is the low bits of a key). */
  constructor(capacity = FIRST_CAPACITY) {
    this.capacity = capacity;
    this.slots = new Uint32Array(capacity * STRIDE);
  }

  /** Slots holding a live or dead entry. */
  get size(): number {
    return this.used;
  }

  find(high: number, low: number): EntryLocation | undefined {
    const at = this.slotOf(high, low) * STRIDE;
    const segment = this.slots[at + SEGMENT]!;
    if (segment === EMPTY || segment === DEAD) return undefined;
    return { segment: segment - 1, offset: this.slots[at + OFFSET]!, length: this.slots[at + LENGTH]! };
  }

  set(high: number, low: number, segment: number, offset: number, length: number): void {
    let at = this.slotOf(high, low) * STRIDE;
    if (this.slots[at + SEGMENT] === EMPTY) {
      if (this.full(this.used + 1)) {
        this.rebuild(this.capacity * 2, () => true);
        at = this.slotOf(high, low) * STRIDE;
      }
      this.used++;
      this.slots[at + HIGH] = high;
      this.slots[at + LOW] = low;
    }
    this.slots[at + SEGMENT] = segment + 1;
    this.slots[at + OFFSET] = offset;
    this.slots[at + LENGTH] = length;
  }

  /** Makes room for `more` entries at once, so loading a large cache does not rebuild the table at every doubling. */
  reserve(more: number): void {
    let capacity = this.capacity;
    while (this.full(this.used + more, capacity)) capacity *= 2;
    if (capacity !== this.capacity) this.rebuild(capacity, () => true);
  }

  /** Marks the entry found corrupt: a miss until a put stores it again. */
  kill(high: number, low: number): void {
    const at = this.slotOf(high, low) * STRIDE;
    if (this.slots[at + SEGMENT] !== EMPTY) this.slots[at + SEGMENT] = DEAD;
  }

  /** Drops every entry the predicate refuses (those of evicted segments, dead ones), in place of growing. */
  compact(keep: (segment: number) => boolean): void {
    this.rebuild(this.capacity, keep);
  }

  /** Kept at most three quarters full: linear probing stays short there. */
  private full(entries: number, capacity = this.capacity): boolean {
    return entries * 4 > capacity * 3;
  }

  /** The slot holding the key, or the empty slot where it would go (linear probing from its low bits). */
  private slotOf(high: number, low: number): number {
    const { slots } = this;
    const mask = this.capacity - 1;
    let slot = low & mask;
    for (;;) {
      const at = slot * STRIDE;
      if (slots[at + SEGMENT] === EMPTY || (slots[at + HIGH] === high && slots[at + LOW] === low)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private rebuild(capacity: number, keep: (segment: number) => boolean): void {
    const old = this.slots;
    this.slots = new Uint32Array(capacity * STRIDE);
    this.capacity = capacity;
    this.used = 0;
    for (let at = 0; at < old.length; at += STRIDE) {
      const segment = old[at + SEGMENT]!;
      if (segment === EMPTY || segment === DEAD || !keep(segment - 1)) continue;
      const target = this.slotOf(old[at + HIGH]!, old[at + LOW]!) * STRIDE;
      this.used++;
      for (let field = 0; field < STRIDE; field++) this.slots[target + field] = old[at + field]!;
    }
  }
}
