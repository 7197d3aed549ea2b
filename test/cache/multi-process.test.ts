/**
 * Several processes storing into one cache directory at once, as parallel `raiden generate` runs do: no
 * entry is ever read torn, none that was stored is lost (without eviction), each process appends to a
 * segment of its own, and with a small bound the processes' evictions keep every remaining entry whole and
 * the directory near its bound.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';

const CHILD = new URL('./cache-writer-child.ts', import.meta.url).pathname;
const WRITERS = 4;
const PER_WRITER = 120;
const SHARED = 60;

function writer(directory: string, id: number, maxBytes: number): Promise<{ keys: string[]; torn: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, directory, String(id), String(PER_WRITER), String(SHARED), String(maxBytes)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(stdout) as { keys: string[]; torn: number }) : reject(new Error(`writer ${id} exited ${code}`)),
    ),
  );
}

/** The segment files in the directory, with the bytes they hold. */
function segmentFiles(directory: string): { name: string; bytes: number }[] {
  const base = join(directory, 'responses-v2', 'segments');
  return readdirSync(base)
    .filter((name) => name.endsWith('.seg'))
    .map((name) => ({ name, bytes: statSync(join(base, name)).size }));
}

describe('one cache directory, several processes at once', () => {
  it('no corrupt entry, no lost entry', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'raiden-cache-mp-'));
    const results = await Promise.all(Array.from({ length: WRITERS }, (_, id) => writer(directory, id, 1024 ** 3)));
    expect(results.map((result) => result.torn)).toEqual([0, 0, 0, 0]);
    const cache = await LocalResponseCache.open(directory);
    const stored = new Set(results.flatMap((result) => result.keys));
    expect(stored.size).toBe(SHARED + WRITERS * (PER_WRITER - SHARED));
    for (const key of stored) {
      const entry = await cache.get(key);
      expect(entry?.text.startsWith(`${key}|`) && entry.text.endsWith('|end'), key).toBe(true);
    }
    // Each process appended to a segment of its own.
    expect(segmentFiles(directory)).toHaveLength(WRITERS);
  });

  it('with a small bound, evictions in several processes keep every entry whole and the directory near its bound', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'raiden-cache-mp-'));
    // A bound of 240 KiB of segment bytes, far below what the 300 entries the writers store take, so they evict.
    const maxBytes = 60 * 4096;
    const results = await Promise.all(Array.from({ length: WRITERS }, (_, id) => writer(directory, id, maxBytes)));
    expect(results.map((result) => result.torn)).toEqual([0, 0, 0, 0]);
    const cache = await LocalResponseCache.open(directory, { maxBytes });
    const kept = [];
    for (const key of new Set(results.flatMap((result) => result.keys))) {
      const entry = await cache.get(key);
      if (entry === undefined) continue;
      expect(entry.text.startsWith(`${key}|`) && entry.text.endsWith('|end'), key).toBe(true);
      kept.push(key);
    }
    const total = segmentFiles(directory).reduce((sum, file) => sum + file.bytes, 0);
    // A process sees the others' segments when it evicts, so the bound may be passed by what they append meanwhile.
    expect(total).toBeLessThanOrEqual(maxBytes * 1.5);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(SHARED + WRITERS * (PER_WRITER - SHARED));
  });
});
