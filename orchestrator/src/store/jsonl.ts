/**
 * Parses JSONL written by an append-only writer that may have been killed mid-line: a last line without
 * its newline is incomplete by definition and is reported as `damagedTail` instead of parsed.
 */
export function parseJsonLines<T>(text: string): { records: T[]; validBytes: number; damagedTail: boolean; badLines: number } {
  const end = text.lastIndexOf('\n') + 1;
  const records: T[] = [];
  let badLines = 0;
  for (const line of text.slice(0, end).split('\n')) {
    if (line.trim().length === 0) continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      badLines++;
    }
  }
  return { records, validBytes: Buffer.byteLength(text.slice(0, end)), damagedTail: end < text.length, badLines };
}

/** Keeps the first record of each id: a rerun must never yield a duplicate sample. */
export function firstById<T extends { id: string }>(records: readonly T[]): T[] {
  const seen = new Set<string>();
  return records.filter((record) => {
    if (seen.has(record.id)) return false;
    seen.add(record.id);
    return true;
  });
}
