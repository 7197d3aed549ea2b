import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Bytes read at a time: large enough that reading costs little CPU, small enough to never matter for memory. */
const CHUNK_BYTES = 1 << 20;

/**
 * A local file as a source of chunks, read anew from the disk at each call: a pass over a profile file of
 * any size holds one chunk of it. Opens the file once first, so a missing or unreadable file fails here
 * with its code (ENOENT, EACCES, EISDIR) instead of in the middle of a pass.
 */
export async function fileChunks(path: string): Promise<() => Generator<Uint8Array>> {
  const handle = await open(path, 'r');
  try {
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
  } finally {
    await handle.close();
  }
  return function* chunks() {
    const fd = openSync(path, 'r');
    try {
      for (;;) {
        // A new buffer per chunk: a reader may keep a chunk (or a view of it) while it reads the next.
        const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
        const read = readSync(fd, chunk, 0, CHUNK_BYTES, null);
        if (read === 0) return;
        yield chunk.subarray(0, read);
      }
    } finally {
      closeSync(fd);
    }
  };
}
