/**
 * The response cache in a directory on this machine, shared by every raiden process that names it:
 *
 *   <dir>/responses-v2/segments/<created>-<pid>-<random>.seg   answers one process appended, in order
 *   <dir>/responses-v2/segments/<same name>.idx                where the records of a segment's first bytes lie
 *   <dir>/responses-v2/evict.lock                              held by the one process evicting
 *
 * Each process appends to a segment of its own, so writers never share a file and need no lock; a record
 * is a header (magic, payload length, CRC-32 of key and payload, the key's 32 bytes) and the entry as JSON.
 * Opening reads every segment's .idx and the records past it into an in-memory index (key -> segment,
 * offset, length), and writes the .idx of any segment it had to read 1 MiB of, so the next process does
 * not; after that a miss costs no system call and a hit one read. Other processes' new records are read
 * when a key misses, at most once a second (`refreshMs`): an answer another process stored a moment ago
 * may be asked again.
 *
 * A crash can leave a torn record at a segment's end: its length runs past the file, or its bytes fail
 * the checksum, and it is a miss. A write the disk refuses is cut off again (the segment truncated to
 * its last whole record) and the put fails. Old layouts (responses-v1/) are not read.
 *
 * The bound counts the segments' bytes. Past it, one process deletes whole segments, oldest first, until
 * the rest fit in 90% of it. Reads keep an answer: once the cache is half full, a hit in the oldest fifth
 * of it is appended again to the reader's own segment, so answers in use survive the eviction of their
 * segment and those nobody asked for go.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { RESPONSE_CACHE_KEY, type CachedResponse, type ResponseCache } from '../core/ports/response-cache.ts';
import { ResponseCacheIndex, type EntryLocation } from './response-cache-index.ts';

export const DEFAULT_CACHE_MAX_BYTES = 2 * 1024 ** 3;

/** Eviction goes down to this share of the bound, so one eviction buys room for many entries. */
const LOW_WATER = 0.9;
/** Reads copy an entry forward only once the cache holds this share of its bound... */
const COPY_FORWARD_FILL = 0.5;
/** ...and only from the oldest segments, holding this share of the bound, which the next evictions delete. */
const COPY_FORWARD_OLDEST = 0.2;
/** Segments are rotated at a sixteenth of the bound, so eviction frees space in steps of that size at most. */
const SEGMENT_SHARE = 1 / 16;
const MAX_SEGMENT_BYTES = 64 * 1024 ** 2;
/** A segment with this many bytes past its .idx gets a new .idx from the process that read them. */
const INDEX_AFTER_BYTES = 1024 ** 2;
const SCAN_CHUNK_BYTES = 1024 ** 2;
/** Segments kept open for reading; others are opened again when read. */
const MAX_READ_FDS = 64;
/** An eviction lock older than this was left by a process killed while evicting. */
const ABANDONED_LOCK_MS = 60_000;
/** A staged index file older than this was left by a process killed while writing it. */
const ABANDONED_TMP_MS = 3_600_000;
const DEFAULT_REFRESH_MS = 1000;
/** A segment's name starts with its creation time in milliseconds, base 36: nine digits last until the year 5188. */
const SEGMENT_TIME_DIGITS = 9;

const RECORD_MAGIC = 0x32_43_52_52; // "RRC2"
const INDEX_MAGIC = 0x32_58_49_52; // "RIX2"
/** magic u32, payload length u32, CRC-32 of the key bytes and payload u32, key 32 bytes. */
const RECORD_HEADER_BYTES = 44;
const KEY_AT = 12;
/** magic u32, bytes of the segment covered u32, record count u32, CRC-32 of the entries u32. */
const INDEX_HEADER_BYTES = 16;
/** key's first 64 bits, offset, length: u32 each. */
const INDEX_ENTRY_BYTES = 16;
/** Lengths and offsets are u32: records past this offset are not read (this process rotates long before). */
const MAX_SEGMENT_OFFSET = 0xffff_ffff;
const MAX_RECORD_BYTES = 1024 ** 3;

export interface LocalResponseCacheOptions {
  /** Bound on the bytes the segments take. */
  readonly maxBytes?: number;
  /** How often, at most, a miss looks for other processes' new records (ms). */
  readonly refreshMs?: number;
}

interface Segment {
  readonly name: string;
  readonly number: number;
  /** End of the last whole record read into the index, or written by this process. */
  end: number;
  /** Bytes its .idx covers. */
  indexed: number;
  removed: boolean;
  /** In the oldest part of a well-filled cache: a hit here is copied forward. */
  atRisk: boolean;
}

interface Writer {
  readonly segment: Segment;
  readonly fd: number;
}

export class LocalResponseCache implements ResponseCache {
  readonly location: string;
  readonly maxBytes: number;
  private readonly root: string;
  private readonly directory: string;
  private readonly refreshMs: number;
  private readonly segmentBytes: number;
  private readonly index = new ResponseCacheIndex();
  private readonly segments: Segment[] = [];
  private readonly byName = new Map<string, Segment>();
  private readonly readFds = new Map<number, number>();
  private writer: Writer | undefined;
  /** Bytes of every segment not removed, as far as this process has read them. */
  private total = 0;
  private refreshedAt = 0;
  private evictBlockedUntil = 0;
  private lastSegmentTime = 0;

  private constructor(directory: string, options: LocalResponseCacheOptions) {
    this.location = directory;
    this.maxBytes = options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES;
    this.refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
    this.root = join(directory, 'responses-v2');
    this.directory = join(this.root, 'segments');
    this.segmentBytes = Math.max(1, Math.min(MAX_SEGMENT_BYTES, Math.floor(this.maxBytes * SEGMENT_SHARE)));
  }

  static async open(directory: string, options: LocalResponseCacheOptions = {}): Promise<LocalResponseCache> {
    const cache = new LocalResponseCache(directory, options);
    mkdirSync(cache.directory, { recursive: true });
    cache.refresh();
    return cache;
  }

  /** Keys indexed, each once wherever it was stored: in a cache just opened, its entries. */
  get entries(): number {
    return this.index.size;
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    const [high, low] = keyHalves(key);
    let found = this.live(this.index.find(high, low));
    if (found === undefined) {
      if (Date.now() - this.refreshedAt < this.refreshMs) return undefined;
      this.refresh();
      found = this.live(this.index.find(high, low));
      if (found === undefined) return undefined;
    }
    const segment = this.segments[found.segment]!;
    let record: Buffer;
    try {
      record = this.read(segment, found);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      // Evicted by another process since this one indexed it.
      this.drop(segment);
      return undefined;
    }
    const entry = decodeRecord(record, key);
    if (entry === undefined) {
      // Torn by a crash, or damaged on disk: a miss, and the next put of the key supersedes it.
      this.index.kill(high, low);
      return undefined;
    }
    if (segment.atRisk) {
      try {
        this.append(high, low, record);
      } catch {
        // The answer was read whole; it stays where it is, and goes when its segment is evicted.
      }
    }
    return entry;
  }

  async put(key: string, response: CachedResponse): Promise<void> {
    const [high, low] = keyHalves(key);
    const json = JSON.stringify({
      text: response.text,
      model: response.model,
      usage: response.usage,
      ...(response.backend !== undefined ? { backend: response.backend } : {}),
    });
    const payloadBytes = Buffer.byteLength(json);
    if (payloadBytes > MAX_RECORD_BYTES) throw new Error(`a response of ${payloadBytes} bytes is too large for the response cache`);
    const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payloadBytes);
    record.writeUInt32LE(RECORD_MAGIC, 0);
    record.writeUInt32LE(payloadBytes, 4);
    record.write(key, KEY_AT, 32, 'hex');
    record.write(json, RECORD_HEADER_BYTES, 'utf8');
    record.writeUInt32LE(crc32(record.subarray(KEY_AT)), 8);
    this.append(high, low, record);
  }

  /** Appends a whole record to this process's segment and indexes it; evicts when past the bound. */
  private append(high: number, low: number, record: Buffer): void {
    const writer = this.writerFor(record.length);
    const offset = writer.segment.end;
    try {
      writeAll(writer.fd, record, offset);
    } catch (error) {
      // A full disk may have taken part of the record: cut it off, so the next record starts where this one did.
      try {
        ftruncateSync(writer.fd, offset);
      } catch {
        this.retire();
      }
      throw error;
    }
    writer.segment.end += record.length;
    this.total += record.length;
    this.index.set(high, low, writer.segment.number, offset, record.length);
    if (this.total > this.maxBytes) this.evict();
  }

  /** This process's segment, a new one when there is none or the record would take it past its size. */
  private writerFor(bytes: number): Writer {
    const current = this.writer;
    if (current !== undefined && (current.segment.end === 0 || current.segment.end + bytes <= this.segmentBytes)) return current;
    if (current !== undefined) this.retire();
    const time = Math.max(Date.now(), this.lastSegmentTime + 1);
    this.lastSegmentTime = time;
    // Named by creation time first, so the oldest segment sorts first; pid and random part keep writers apart.
    const name = `${time.toString(36).padStart(SEGMENT_TIME_DIGITS, '0')}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const fd = openSync(join(this.directory, `${name}.seg`), 'wx+');
    const writer = { segment: this.addSegment(name), fd };
    this.writer = writer;
    this.markAtRisk();
    return writer;
  }

  /** Stops appending to the current segment; its records stay readable through the read descriptors. */
  private retire(): void {
    if (this.writer === undefined) return;
    closeSync(this.writer.fd);
    this.writer = undefined;
  }

  private addSegment(name: string): Segment {
    const segment: Segment = { name, number: this.segments.length, end: 0, indexed: 0, removed: false, atRisk: false };
    // This process's next segment sorts after every one it has read, so a key it stores again supersedes them.
    this.lastSegmentTime = Math.max(this.lastSegmentTime, Number.parseInt(name.slice(0, SEGMENT_TIME_DIGITS), 36) || 0);
    this.segments.push(segment);
    this.byName.set(name, segment);
    return segment;
  }

  /** Reads the segments added, grown or deleted by other processes since the last look. */
  private refresh(): void {
    this.refreshedAt = Date.now();
    const names = new Set<string>();
    for (const file of readdirSync(this.directory)) if (file.endsWith('.seg')) names.add(file.slice(0, -'.seg'.length));
    for (const segment of this.segments) {
      if (segment.removed) continue;
      // This process's own segment too: evicted by another process, it is left for a new one, whose records others can read.
      if (!names.has(segment.name)) this.drop(segment);
      else if (segment !== this.writer?.segment) this.scan(segment, false);
    }
    // Oldest first: where a key was stored twice (again after a torn record, or copied forward), the later record wins.
    for (const name of [...names].sort()) if (!this.byName.has(name)) this.scan(this.addSegment(name), true);
    this.markAtRisk();
  }

  /** Indexes a segment's records past what this process has read: its .idx first, then the records after it. */
  private scan(segment: Segment, fresh: boolean): void {
    let size: number;
    let fd: number;
    try {
      // A stat first: most segments have not grown, and a descriptor may have to be opened for the others.
      size = Math.min(statSync(join(this.directory, `${segment.name}.seg`)).size, MAX_SEGMENT_OFFSET);
      if (fresh) this.loadIndexFile(segment, size);
      if (size <= segment.end) return;
      fd = this.readFd(segment);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.drop(segment);
      return;
    }
    const from = segment.end;
    segment.end = readRecords(fd, from, size, (high, low, offset, length) => this.index.set(high, low, segment.number, offset, length));
    this.total += segment.end - from;
    if (segment.end - segment.indexed >= INDEX_AFTER_BYTES) {
      try {
        this.writeIndexFile(segment, fd);
      } catch {
        // Only a saving for the next process to open the cache, which reads the records instead.
      }
    }
  }

  private loadIndexFile(segment: Segment, size: number): void {
    let data: Buffer;
    try {
      data = readFileSync(join(this.directory, `${segment.name}.idx`));
    } catch {
      return;
    }
    const entries = indexEntries(data, size);
    if (entries === undefined) return;
    this.index.reserve(entries.length / INDEX_ENTRY_BYTES);
    for (let at = 0; at < entries.length; at += INDEX_ENTRY_BYTES)
      this.index.set(
        entries.readUInt32LE(at),
        entries.readUInt32LE(at + 4),
        segment.number,
        entries.readUInt32LE(at + 8),
        entries.readUInt32LE(at + 12),
      );
    segment.indexed = segment.end = data.readUInt32LE(4);
    this.total += segment.end;
  }

  /** Writes the .idx of everything read of the segment (renamed into place: readers see the old one or this). */
  private writeIndexFile(segment: Segment, fd: number): void {
    const path = join(this.directory, `${segment.name}.idx`);
    const old = segment.indexed > 0 ? indexEntries(readFileSync(path), segment.indexed) : Buffer.alloc(0);
    if (old === undefined) return;
    const added: number[] = [];
    readRecords(fd, segment.indexed, segment.end, (high, low, offset, length) => added.push(high, low, offset, length));
    const data = Buffer.allocUnsafe(INDEX_HEADER_BYTES + old.length + added.length * 4);
    old.copy(data, INDEX_HEADER_BYTES);
    for (let n = 0; n < added.length; n++) data.writeUInt32LE(added[n]!, INDEX_HEADER_BYTES + old.length + n * 4);
    data.writeUInt32LE(INDEX_MAGIC, 0);
    data.writeUInt32LE(segment.end, 4);
    data.writeUInt32LE((data.length - INDEX_HEADER_BYTES) / INDEX_ENTRY_BYTES, 8);
    data.writeUInt32LE(crc32(data.subarray(INDEX_HEADER_BYTES)), 12);
    const staged = `${path}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`;
    try {
      writeFileSync(staged, data);
      renameSync(staged, path);
    } catch (error) {
      ignoreFailure(() => unlinkSync(staged));
      throw error;
    }
    segment.indexed = segment.end;
  }

  /**
   * Deletes whole segments, oldest first, until the rest fit in 90% of the bound. One process evicts at a
   * time; the others go on appending and see the deleted segments at their next refresh.
   */
  private evict(): void {
    if (Date.now() < this.evictBlockedUntil) return;
    // A process that cannot take the lock (another is evicting), or cannot get under the bound, tries again a refresh interval later, not at every put.
    this.evictBlockedUntil = Date.now() + this.refreshMs;
    const lockPath = join(this.root, 'evict.lock');
    const lock = takeLock(lockPath);
    if (lock === undefined) return;
    try {
      this.refresh();
      for (const segment of this.liveSegments()) {
        if (this.total <= this.maxBytes * LOW_WATER) break;
        if (segment === this.writer?.segment) continue;
        ignoreFailure(() => unlinkSync(join(this.directory, `${segment.name}.seg`)));
        ignoreFailure(() => unlinkSync(join(this.directory, `${segment.name}.idx`)));
        this.drop(segment);
      }
      this.removeLeftovers();
      this.index.compact((number) => !this.segments[number]!.removed);
      this.markAtRisk();
      if (this.total <= this.maxBytes) this.evictBlockedUntil = 0;
    } finally {
      closeSync(lock);
      ignoreFailure(() => unlinkSync(lockPath));
    }
  }

  /** Index files of deleted segments and staged index files, which a process killed at the wrong moment leaves. */
  private removeLeftovers(): void {
    const files = readdirSync(this.directory);
    const segments = new Set(files.filter((file) => file.endsWith('.seg')).map((file) => file.slice(0, -'.seg'.length)));
    for (const file of files) {
      const path = join(this.directory, file);
      if (file.endsWith('.idx') && !segments.has(file.slice(0, -'.idx'.length))) ignoreFailure(() => unlinkSync(path));
      else if (file.endsWith('.tmp'))
        ignoreFailure(() => {
          if (Date.now() - statSync(path).mtimeMs > ABANDONED_TMP_MS) unlinkSync(path);
        });
    }
  }

  private drop(segment: Segment): void {
    if (segment.removed) return;
    segment.removed = true;
    this.total -= segment.end;
    const fd = this.readFds.get(segment.number);
    if (fd !== undefined) {
      this.readFds.delete(segment.number);
      ignoreFailure(() => closeSync(fd));
    }
    if (this.writer?.segment === segment) this.retire();
  }

  private liveSegments(): Segment[] {
    return this.segments.filter((segment) => !segment.removed).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private markAtRisk(): void {
    const filled = this.total >= this.maxBytes * COPY_FORWARD_FILL;
    let before = 0;
    for (const segment of this.liveSegments()) {
      segment.atRisk = filled && segment !== this.writer?.segment && before < this.maxBytes * COPY_FORWARD_OLDEST;
      before += segment.end;
    }
  }

  private live(found: EntryLocation | undefined): EntryLocation | undefined {
    return found === undefined || this.segments[found.segment]!.removed ? undefined : found;
  }

  private read(segment: Segment, found: EntryLocation): Buffer {
    const record = Buffer.allocUnsafe(found.length);
    const read = readSync(this.readFd(segment), record, 0, found.length, found.offset);
    return read === found.length ? record : record.subarray(0, read);
  }

  private readFd(segment: Segment): number {
    if (this.writer?.segment === segment) return this.writer.fd;
    let fd = this.readFds.get(segment.number);
    if (fd !== undefined) return fd;
    fd = openSync(join(this.directory, `${segment.name}.seg`), 'r');
    if (this.readFds.size >= MAX_READ_FDS) {
      const [oldest, oldestFd] = this.readFds.entries().next().value!;
      this.readFds.delete(oldest);
      ignoreFailure(() => closeSync(oldestFd));
    }
    this.readFds.set(segment.number, fd);
    return fd;
  }
}

/** The key's first 64 bits, as the index and the .idx files hold them. */
function keyHalves(key: string): [number, number] {
  if (!RESPONSE_CACHE_KEY.test(key)) throw new Error(`not a response cache key: ${JSON.stringify(key)}`);
  return [Number.parseInt(key.slice(0, 8), 16), Number.parseInt(key.slice(8, 16), 16)];
}

/** Calls `visit` for each whole record from `from`; returns where the last one ends (a torn one is not whole). */
function readRecords(
  fd: number,
  from: number,
  to: number,
  visit: (high: number, low: number, offset: number, length: number) => void,
): number {
  const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(to - from, RECORD_HEADER_BYTES)));
  let chunkStart = 0;
  let chunkEnd = 0;
  let position = from;
  while (position + RECORD_HEADER_BYTES <= to) {
    if (position < chunkStart || position + RECORD_HEADER_BYTES > chunkEnd) {
      chunkStart = position;
      chunkEnd = position + readSync(fd, chunk, 0, Math.min(chunk.length, to - position), position);
      if (chunkEnd - chunkStart < RECORD_HEADER_BYTES) break;
    }
    const at = position - chunkStart;
    if (chunk.readUInt32LE(at) !== RECORD_MAGIC) break;
    const length = RECORD_HEADER_BYTES + chunk.readUInt32LE(at + 4);
    if (position + length > to) break;
    visit(chunk.readUInt32BE(at + KEY_AT), chunk.readUInt32BE(at + KEY_AT + 4), position, length);
    position += length;
  }
  return position;
}

/** A .idx file's entries, or undefined when it is damaged or covers more than the segment holds. */
function indexEntries(data: Buffer, segmentBytes: number): Buffer | undefined {
  if (data.length < INDEX_HEADER_BYTES || data.readUInt32LE(0) !== INDEX_MAGIC) return undefined;
  const entries = data.subarray(INDEX_HEADER_BYTES);
  if (
    data.readUInt32LE(4) > segmentBytes ||
    entries.length !== data.readUInt32LE(8) * INDEX_ENTRY_BYTES ||
    crc32(entries) !== data.readUInt32LE(12)
  )
    return undefined;
  return entries;
}

/** The entry a record holds for `key`, or undefined when it is torn, damaged or another key's. */
function decodeRecord(record: Buffer, key: string): CachedResponse | undefined {
  if (
    record.length < RECORD_HEADER_BYTES ||
    record.readUInt32LE(0) !== RECORD_MAGIC ||
    record.readUInt32LE(4) !== record.length - RECORD_HEADER_BYTES ||
    record.toString('hex', KEY_AT, RECORD_HEADER_BYTES) !== key ||
    crc32(record.subarray(KEY_AT)) !== record.readUInt32LE(8)
  )
    return undefined;
  try {
    const entry = JSON.parse(record.toString('utf8', RECORD_HEADER_BYTES)) as Partial<CachedResponse>;
    const usage = entry.usage;
    if (
      typeof entry.text !== 'string' ||
      typeof entry.model !== 'string' ||
      typeof usage?.inputTokens !== 'number' ||
      typeof usage.outputTokens !== 'number'
    )
      return undefined;
    return {
      text: entry.text,
      model: entry.model,
      usage,
      ...(typeof entry.backend === 'string' ? { backend: entry.backend } : {}),
    };
  } catch {
    return undefined;
  }
}

function writeAll(fd: number, data: Buffer, position: number): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written, position + written);
}

function takeLock(path: string): number | undefined {
  try {
    return openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    // Released meanwhile: the next eviction takes it.
    return undefined;
  }
  if (age < ABANDONED_LOCK_MS) return undefined;
  ignoreFailure(() => unlinkSync(path));
  try {
    return openSync(path, 'wx');
  } catch {
    return undefined;
  }
}

function ignoreFailure(work: () => void): void {
  try {
    work();
  } catch {
    // Best effort: already gone, or left for a later eviction.
  }
}
