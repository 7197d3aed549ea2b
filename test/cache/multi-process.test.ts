/**
 * Several processes storing into one cache directory at once, as parallel `raiden generate` runs do: no
 * entry is ever read torn, none that was stored is lost (without eviction), and with a small bound the
 * processes' sweeps keep every remaining entry whole and the directory near its bound.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

/** Every entry file in the directory, parsed, with the disk it takes. */
function entryFiles(directory: string): { key: string; text: string; bytes: number }[] {
  const base = join(directory, 'responses-v1', 'entries');
  return readdirSync(base).flatMap((sub) =>
    readdirSync(join(base, sub)).map((name) => {
      const raw = readFileSync(join(base, sub, name), 'utf8');
      const entry = JSON.parse(raw) as { key: string; text: string };
      expect(`${sub}${name}`).toBe(`${entry.key}.json`);
      return { key: entry.key, text: entry.text, bytes: statSync(join(base, sub, name)).blocks * 512 };
    }),
  );
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
    expect(entryFiles(directory)).toHaveLength(stored.size);
    expect(readdirSync(join(directory, 'responses-v1', 'tmp'))).toEqual([]);
  });

  it('with a small bound, sweeps in several processes keep every entry whole and the directory near its bound', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'raiden-cache-mp-'));
    // Room for 60 entries of one 4 KiB block each; the writers store 300 between them.
    const maxBytes = 60 * 4096;
    const results = await Promise.all(Array.from({ length: WRITERS }, (_, id) => writer(directory, id, maxBytes)));
    expect(results.map((result) => result.torn)).toEqual([0, 0, 0, 0]);
    const files = entryFiles(directory);
    for (const file of files) expect(file.text.startsWith(`${file.key}|`) && file.text.endsWith('|end')).toBe(true);
    const total = files.reduce((sum, file) => sum + file.bytes, 0);
    // Each process sees the others' entries at its next journal read, so the bound may be passed by what they store meanwhile.
    expect(total).toBeLessThanOrEqual(maxBytes * 1.5);
    expect(files.length).toBeLessThan(SHARED + WRITERS * (PER_WRITER - SHARED));
  });
});
