import { createReadStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/**
 * Cuts a JSONL file back to its last complete line. An append-only writer killed mid-write leaves a last
 * line without its newline: incomplete by definition, and appending after it would corrupt the next record.
 */
export async function repairTornTail(path: string): Promise<boolean> {
  const size = await stat(path).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined || size === 0) return false;
  const handle = await open(path, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (newline >= 0) {
        const validBytes = start + newline + 1;
        if (validBytes === size) return false;
        await truncate(path, validBytes);
        return true;
      }
      end = start;
    }
  } finally {
    await handle.close();
  }
  await truncate(path, 0);
  return true;
}

/** Streams the complete, parseable lines of a JSONL file; a missing file yields nothing. */
export async function* readJsonLines<T>(path: string): AsyncGenerator<T> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  yield* parseJsonLineStream<T>(createReadStream(path, { encoding: 'utf8' }));
}

/** Streams the parseable records of JSONL text from any readable stream (a file, an S3 object body). */
export async function* parseJsonLineStream<T>(input: Readable): AsyncGenerator<T> {
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (line.trim().length === 0) continue;
    try {
      yield JSON.parse(line) as T;
    } catch {
      // A corrupt line in the middle cannot come from our writer; skipping it keeps every other record.
    }
  }
}

/** Keeps the first record of each id: a rerun must never yield a duplicate sample. */
export async function* firstById<T extends { id: string }>(records: AsyncIterable<T>): AsyncGenerator<T> {
  const seen = new Set<string>();
  for await (const record of records) {
    if (seen.has(record.id)) continue;
    seen.add(record.id);
    yield record;
  }
}
