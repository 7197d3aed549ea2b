import { createReadStream } from 'node:fs';
import { appendFile, open, stat, truncate } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** A last line longer than this without its newline is cut, never read whole to check it. */
const MAX_UNTERMINATED_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Cuts a JSONL file back to its last complete line. An append-only writer killed mid-write leaves a last
 * line without its newline: cut, since appending after it would corrupt the next record. A last line that
 * is a whole record and lacks only the newline (an editor, a copy) is kept and terminated instead.
 */
export async function repairTornTail(path: string): Promise<boolean> {
  const size = await stat(path).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined || size === 0) return false;
  const handle = await open(path, 'r');
  let validBytes = 0;
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (newline >= 0) {
        validBytes = start + newline + 1;
        break;
      }
      end = start;
    }
    if (validBytes === size) return false;
    if (size - validBytes <= MAX_UNTERMINATED_LINE_BYTES) {
      const tail = Buffer.alloc(size - validBytes);
      await handle.read(tail, 0, tail.length, validBytes);
      if (isJsonRecord(tail)) {
        await appendFile(path, '\n');
        return true;
      }
    }
  } finally {
    await handle.close();
  }
  await truncate(path, validBytes);
  return true;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function isJsonRecord(bytes: Uint8Array): boolean {
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
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
