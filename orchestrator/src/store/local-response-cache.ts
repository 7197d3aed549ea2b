/**
 * The response cache in a directory on this machine, shared by every raiden process that names it:
 *
 *   <dir>/responses-v1/entries/<2 hex>/<64 hex>.json   one answer per file, named by its key
 *   <dir>/responses-v1/tmp/                            entries being written, renamed into entries/ when whole
 *   <dir>/responses-v1/journal                         "+<bytes>" per entry stored since the last sweep
 *   <dir>/responses-v1/size.json                       the disk the entries took at the last sweep
 *   <dir>/responses-v1/sweep.lock                      held by the one process evicting
 *
 * An entry is written to tmp/ and renamed into place, so a reader (another process included) sees a whole
 * entry or none, and two processes storing the same key leave one whole entry. A read marks the entry as
 * used (its mtime); when the size the journal adds up to passes the bound, one process scans the entries
 * and deletes the least recently used until they take 90% of it.
 *
 * An entry is a few kilobytes: it is read and written with synchronous calls, which cost a tenth of the
 * CPU of the promise API's several thread-pool round trips and hold the event loop for tens of
 * microseconds. The sweep, which visits every entry, stays asynchronous.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, renameSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RESPONSE_CACHE_KEY, type CachedResponse, type ResponseCache } from '../core/ports/response-cache.ts';

export const DEFAULT_CACHE_MAX_BYTES = 2 * 1024 ** 3;

/** The file system's allocation unit: a 700-byte entry takes a whole block of disk, and the bound counts disk. */
const BLOCK_BYTES = 4096;
/** Eviction goes down to this share of the bound, so one sweep buys room for many entries. */
const LOW_WATER = 0.9;
/** A sweep lock older than this was left by a process killed while sweeping. */
const ABANDONED_LOCK_MS = 60_000;
/** A staged entry older than this was left by a process killed while writing it. */
const ABANDONED_TMP_MS = 3_600_000;

export interface LocalResponseCacheOptions {
  /** Bound on the disk the entries take, in bytes (whole blocks, as the file system allocates them). */
  readonly maxBytes?: number;
}

interface StoredEntry extends CachedResponse {
  readonly key: string;
  readonly stored_at: string;
}

export class LocalResponseCache implements ResponseCache {
  readonly location: string;
  readonly maxBytes: number;
  private readonly root: string;
  private readonly madeDirectories = new Set<string>();
  /** Entries' total size as this process knows it; undefined until the first sweep or journal read says. */
  private estimate: number | undefined;
  /** Bytes this process stored since it last read the journal (which holds other processes' entries too). */
  private sinceRefresh = 0;

  private constructor(directory: string, maxBytes: number) {
    this.location = directory;
    this.maxBytes = maxBytes;
    this.root = join(directory, 'responses-v1');
  }

  static async open(directory: string, options: LocalResponseCacheOptions = {}): Promise<LocalResponseCache> {
    const cache = new LocalResponseCache(directory, options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES);
    await mkdir(join(cache.root, 'tmp'), { recursive: true });
    await mkdir(join(cache.root, 'entries'), { recursive: true });
    cache.estimate = await cache.readEstimate();
    return cache;
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    const path = this.entryPath(key);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const entry = parseEntry(text, key);
    if (entry === undefined) {
      // Renames make a torn entry impossible; this one was written by something else: drop it, ask the model again.
      ignoreFailure(() => unlinkSync(path));
      return undefined;
    }
    const now = new Date();
    // Evicted meanwhile by another process's sweep: the answer read is still good.
    ignoreFailure(() => utimesSync(path, now, now));
    return {
      text: entry.text,
      model: entry.model,
      usage: entry.usage,
      ...(entry.backend !== undefined ? { backend: entry.backend } : {}),
    };
  }

  async put(key: string, response: CachedResponse): Promise<void> {
    const path = this.entryPath(key);
    const text = JSON.stringify({ key, ...response, stored_at: new Date().toISOString() } satisfies StoredEntry);
    const directory = dirname(path);
    if (!this.madeDirectories.has(directory)) {
      mkdirSync(directory, { recursive: true });
      this.madeDirectories.add(directory);
    }
    const staged = join(this.root, 'tmp', `${process.pid}-${randomUUID()}.json`);
    try {
      writeFileSync(staged, text, { flag: 'wx' });
      renameSync(staged, path);
    } catch (error) {
      // A full disk leaves the file created and empty (or part written): it is no entry, and takes an inode.
      ignoreFailure(() => unlinkSync(staged));
      throw error;
    }
    const bytes = Math.ceil(Buffer.byteLength(text) / BLOCK_BYTES) * BLOCK_BYTES;
    // One short O_APPEND write: lines of several processes never interleave.
    appendFileSync(join(this.root, 'journal'), `+${bytes}\n`);
    this.sinceRefresh += bytes;
    if (this.estimate !== undefined) this.estimate += bytes;
    if (this.sinceRefresh >= this.maxBytes * (1 - LOW_WATER)) {
      this.estimate = await this.readEstimate();
      this.sinceRefresh = 0;
    }
    if (this.estimate === undefined || this.estimate > this.maxBytes) await this.sweep();
  }

  /**
   * Deletes the least recently used entries until the rest fit in 90% of the bound, and resets the size
   * record. One process sweeps at a time; the others go on storing and find the new size at their next
   * journal read.
   */
  async sweep(): Promise<void> {
    const lock = join(this.root, 'sweep.lock');
    const handle = await open(lock, 'wx').catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age < ABANDONED_LOCK_MS) return undefined;
      await unlink(lock).catch(() => undefined);
      return open(lock, 'wx').catch(() => undefined);
    });
    if (handle === undefined) return;
    try {
      const entries = await this.scanEntries();
      let total = entries.reduce((sum, entry) => sum + entry.size, 0);
      if (total > this.maxBytes) {
        entries.sort((a, b) => a.usedMs - b.usedMs);
        for (const entry of entries) {
          if (total <= this.maxBytes * LOW_WATER) break;
          await unlink(entry.path).catch(() => undefined);
          total -= entry.size;
        }
      }
      await this.removeAbandonedStaging();
      const sizeFile = join(this.root, 'size.json');
      await writeFile(`${sizeFile}.${process.pid}.tmp`, JSON.stringify({ bytes: total, swept_at: new Date().toISOString() }));
      await rename(`${sizeFile}.${process.pid}.tmp`, sizeFile);
      // Entries stored by others between the scan and this truncation drop out of the estimate until the next sweep counts them.
      await writeFile(join(this.root, 'journal'), '');
      this.estimate = total;
      this.sinceRefresh = 0;
    } finally {
      await handle.close();
      await unlink(lock).catch(() => undefined);
    }
  }

  /** Size at the last sweep plus every entry journalled since; undefined when no sweep has run yet. */
  private async readEstimate(): Promise<number | undefined> {
    const size = await readFile(join(this.root, 'size.json'), 'utf8').then(
      (text) => (JSON.parse(text) as { bytes?: unknown }).bytes,
      () => undefined,
    );
    if (typeof size !== 'number') return undefined;
    const journal = await readFile(join(this.root, 'journal'), 'utf8').catch(() => '');
    let grown = 0;
    for (const line of journal.split('\n')) if (line.startsWith('+')) grown += Number(line.slice(1)) || 0;
    return size + grown;
  }

  private async scanEntries(): Promise<{ path: string; size: number; usedMs: number }[]> {
    const entries: { path: string; size: number; usedMs: number }[] = [];
    const base = join(this.root, 'entries');
    for (const directory of await readdir(base)) {
      const names = await readdir(join(base, directory)).catch(() => [] as string[]);
      for (const name of names) {
        const path = join(base, directory, name);
        const info = await stat(path).catch(() => undefined);
        if (info !== undefined) entries.push({ path, size: info.blocks * 512, usedMs: info.mtimeMs });
      }
    }
    return entries;
  }

  private async removeAbandonedStaging(): Promise<void> {
    const directory = join(this.root, 'tmp');
    for (const name of await readdir(directory).catch(() => [] as string[])) {
      const path = join(directory, name);
      const info = await stat(path).catch(() => undefined);
      if (info !== undefined && Date.now() - info.mtimeMs > ABANDONED_TMP_MS) await unlink(path).catch(() => undefined);
    }
  }

  private entryPath(key: string): string {
    if (!RESPONSE_CACHE_KEY.test(key)) throw new Error(`not a response cache key: ${JSON.stringify(key)}`);
    return join(this.root, 'entries', key.slice(0, 2), `${key.slice(2)}.json`);
  }
}

function parseEntry(text: string, key: string): StoredEntry | undefined {
  try {
    const entry = JSON.parse(text) as Partial<StoredEntry>;
    const usage = entry.usage;
    if (
      entry.key !== key ||
      typeof entry.text !== 'string' ||
      typeof entry.model !== 'string' ||
      typeof usage?.inputTokens !== 'number' ||
      typeof usage.outputTokens !== 'number'
    )
      return undefined;
    return entry as StoredEntry;
  } catch {
    return undefined;
  }
}

function ignoreFailure(work: () => void): void {
  try {
    work();
  } catch {
    // Best effort: the entry is gone already, or will be swept.
  }
}
