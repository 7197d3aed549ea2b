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

export interface EntryLocation {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

export class ResponseCacheIndex {
  private high: Uint32Array;
  private low: Uint32Array;
  /** Segment number + 1; EMPTY or DEAD. */
  private segments: Uint32Array;
  private offsets: Uint32Array;
  private lengths: Uint32Array;
  private used = 0;

  /** `capacity`: slots to start with, a power of two (a slot is the low bits of a key). */
  constructor(capacity = FIRST_CAPACITY) {
    this.high = new Uint32Array(capacity);
    this.low = new Uint32Array(capacity);
    this.segments = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
  }

  /** Slots holding a live or dead entry. */
  get size(): number {
    return this.used;
  }

  find(high: number, low: number): EntryLocation | undefined {
    const slot = this.slotOf(high, low);
    const segment = this.segments[slot]!;
    if (segment === EMPTY || segment === DEAD) return undefined;
    return { segment: segment - 1, offset: this.offsets[slot]!, length: this.lengths[slot]! };
  }

  set(high: number, low: number, segment: number, offset: number, length: number): void {
    let slot = this.slotOf(high, low);
    if (this.segments[slot] === EMPTY) {
      if ((this.used + 1) * 4 > this.segments.length * 3) {
        this.grow();
        slot = this.slotOf(high, low);
      }
      this.used++;
      this.high[slot] = high;
      this.low[slot] = low;
    }
    this.segments[slot] = segment + 1;
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
  }

  /** Marks the entry found corrupt: a miss until a put stores it again. */
  kill(high: number, low: number): void {
    const slot = this.slotOf(high, low);
    if (this.segments[slot] !== EMPTY) this.segments[slot] = DEAD;
  }

  /** Drops every entry the predicate refuses (those of evicted segments, dead ones), in place of growing. */
  compact(keep: (segment: number) => boolean): void {
    this.rebuild(this.segments.length, keep);
  }

  /** The slot holding the key, or the empty slot where it would go (linear probing from its low bits). */
  private slotOf(high: number, low: number): number {
    const mask = this.segments.length - 1;
    let slot = low & mask;
    while (this.segments[slot] !== EMPTY && (this.high[slot] !== high || this.low[slot] !== low)) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    this.rebuild(this.segments.length * 2, () => true);
  }

  private rebuild(capacity: number, keep: (segment: number) => boolean): void {
    const { high, low, segments, offsets, lengths } = this;
    this.high = new Uint32Array(capacity);
    this.low = new Uint32Array(capacity);
    this.segments = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.used = 0;
    for (let slot = 0; slot < segments.length; slot++) {
      const segment = segments[slot]!;
      if (segment === EMPTY || segment === DEAD || !keep(segment - 1)) continue;
      const target = this.slotOf(high[slot]!, low[slot]!);
      this.used++;
      this.high[target] = high[slot]!;
      this.low[target] = low[slot]!;
      this.segments[target] = segment;
      this.offsets[target] = offsets[slot]!;
      this.lengths[target] = lengths[slot]!;
    }
  }
}
