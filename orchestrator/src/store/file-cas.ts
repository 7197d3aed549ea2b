/**
 * Conditional writes on one local file, with the semantics S3 gives a PUT with If-None-Match or If-Match:
 * what lets two processes on one run directory find out which of them is its writer.
 */
import { createHash, randomUUID } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { WriteConflictError, type Versioned } from '../core/ports/run-store.ts';

/** A swap takes microseconds; a swap lock older than this was left by a process killed in the middle of one. */
const ABANDONED_SWAP_MS = 30_000;

export function versionOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function readVersioned<T>(path: string): Promise<Versioned<T> | undefined> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text === undefined) return undefined;
  let value: T;
  try {
    value = JSON.parse(text) as T;
  } catch {
    throw new Error(`${path} is not JSON: if no process uses this directory, delete the file and try again`);
  }
  return { value, version: versionOf(text) };
}

/** File systems without hard links (some network and FUSE mounts, exFAT) answer link(2) with these. */
const NO_HARD_LINKS = new Set(['ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates `path` with `text` only if it does not exist. The text is written to a file of its own first and
 * then hard-linked into place, so nobody ever reads the new file half written.
 */
export async function createExclusive(path: string, text: string): Promise<void> {
  const staged = temporaryName(path);
  await writeFile(staged, text);
  try {
    await link(staged, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') throw new WriteConflictError(`${path} exists already`);
    if (!NO_HARD_LINKS.has(code)) throw error;
    // Still exclusive, though a reader may now see the file before its text is in.
    await writeFile(path, text, { flag: 'wx' }).catch((created: NodeJS.ErrnoException) => {
      throw created.code === 'EEXIST' ? new WriteConflictError(`${path} exists already`) : created;
    });
  } finally {
    await unlink(staged).catch(() => undefined);
  }
}

/** Replaces `path` with `text` only if it still has `version`. */
export async function replaceIfVersion(path: string, text: string, version: string): Promise<void> {
  await underSwapLock(path, async () => {
    await expectVersion(path, version);
    const staged = temporaryName(path);
    await writeFile(staged, text);
    await rename(staged, path);
  });
}

/** Deletes `path` only if it still has `version`. */
export async function deleteIfVersion(path: string, version: string): Promise<void> {
  await underSwapLock(path, async () => {
    await expectVersion(path, version);
    await unlink(path);
  });
}

async function expectVersion(path: string, version: string): Promise<void> {
  const current = await readVersioned(path);
  if (current?.version !== version) throw new WriteConflictError(`${path} changed since it was read`);
}

/**
 * Compare and swap are two steps on a file system, so they run under a lock file created exclusively. A
 * second swapper backs off with WriteConflictError and reads again, as after a failed If-Match.
 */
async function underSwapLock(path: string, work: () => Promise<void>): Promise<void> {
  const lock = `${path}.swap`;
  const handle = await open(lock, 'wx').catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
    const age = await stat(lock).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age < ABANDONED_SWAP_MS) throw new WriteConflictError(`${path} is being changed by another process`);
    await unlink(lock).catch(() => undefined);
    return open(lock, 'wx').catch(() => {
      throw new WriteConflictError(`${path} is being changed by another process`);
    });
  });
  try {
    await work();
  } finally {
    await handle.close();
    await unlink(lock).catch(() => undefined);
  }
}

function temporaryName(path: string): string {
  return `${path}.${process.pid}-${randomUUID().slice(0, 8)}.tmp`;
}
