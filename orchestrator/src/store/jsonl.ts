import { createReadStream } from 'node:fs';
import { appendFile, open, rename, stat, truncate } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { RunFileError } from '../core/ports/run-store.ts';

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

/**
 * Streams the records of a JSONL file; a missing file yields nothing. A line that is not a JSON record
 * throws RunFileError naming the file and the line, followed by `hint` (how to repair it): skipping it
 * silently would drop a record without anyone knowing.
 */
export async function* readJsonLines<T>(path: string, hint = ''): AsyncGenerator<T> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  yield* parseJsonLineStream<T>(createReadStream(path, { encoding: 'utf8' }), path, hint);
}

/** Streams the records of JSONL text from any readable stream (a file, an S3 object body); `where` names it in errors. */
export async function* parseJsonLineStream<T>(input: Readable, where: string, hint = ''): AsyncGenerator<T> {
  let number = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    number++;
    if (line.trim().length === 0) continue;
    const record = parseRecord(line);
    if (record === undefined) throw new RunFileError(`${where} line ${number} is not a JSON record${hint}`);
    yield record as T;
  }
}

function parseRecord(line: string): object | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A line of a JSONL file that repairCorruptLines took out. */
export interface RepairedLine {
  readonly file: string;
  readonly line: number;
  /** A whole record was found glued after the damage (a torn write followed by the next append) and kept. */
  readonly salvaged: boolean;
}

/**
 * Takes every line that is not a JSON record out of a JSONL file, so appends and readers see whole records
 * only. A record glued to the torn rest of an earlier one is kept; the damaged text goes to `<file>.corrupt`,
 * for a person to look at, so nothing is deleted. Call with no writer on the file (before its appends).
 */
export async function repairCorruptLines(path: string): Promise<RepairedLine[]> {
  const repaired: RepairedLine[] = [];
  let number = 0;
  try {
    for await (const line of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) {
      number++;
      if (line.trim().length > 0 && parseRecord(line) === undefined) repaired.push({ file: path, line: number, salvaged: false });
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  if (repaired.length === 0) return [];
  const bad = new Set(repaired.map((entry) => entry.line));
  const kept = await open(`${path}.tmp`, 'w');
  const corrupt = await open(`${path}.corrupt`, 'a');
  try {
    number = 0;
    for await (const line of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) {
      number++;
      if (!bad.has(number)) {
        await kept.write(`${line}\n`);
        continue;
      }
      await corrupt.write(`${line}\n`);
      const glued = gluedRecord(line);
      if (glued !== undefined) {
        await kept.write(`${glued}\n`);
        const index = repaired.findIndex((entry) => entry.line === number);
        repaired[index] = { file: path, line: number, salvaged: true };
      }
    }
    await kept.sync();
  } finally {
    await kept.close();
    await corrupt.close();
  }
  await rename(`${path}.tmp`, path);
  return repaired;
}

/** The whole record at the end of a line that starts with the torn rest of another, if there is one. */
function gluedRecord(line: string): string | undefined {
  for (let start = line.indexOf('{', 1); start > 0; start = line.indexOf('{', start + 1)) {
    const rest = line.slice(start);
    if (parseRecord(rest) !== undefined) return rest;
  }
  return undefined;
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
