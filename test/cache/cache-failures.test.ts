/**
 * A response cache that cannot store answers (its disk full) costs no data and is not silent: the run
 * counts the failures in report.json and says so on stderr, and a write the disk cut short leaves no
 * part of a record behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { faultSequence, startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import type { RejectRecord } from '../../orchestrator/src/core/verify/sample.ts';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';
import { readJson, readJsonl, ROOT, runCli } from '../support/run-cli.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('a response cache that fails to store', () => {
  it('is counted in report.json and on stderr; the rejects keep their whole output in the run', async () => {
    server = await startTestServer({ fault: faultSequence(['keyword_not_in_answer', 'ungrounded']) });
    const cacheDir = mkdtempSync(join(tmpdir(), 'raiden-cache-full-'));
    // The segments directory is one of procfs, where no one (root included) may create a file: the cache
    // opens and reads it (no segment in it), and then every write fails.
    mkdirSync(join(cacheDir, 'responses-v2'), { recursive: true });
    symlinkSync('/proc/self/fdinfo', join(cacheDir, 'responses-v2', 'segments'));
    const out = mkdtempSync(join(tmpdir(), 'raiden-cache-full-run-'));
    const run = await runCli([
      'generate',
      ...['--profiles', 'examples/npc.json', '--endpoint', server.url, '--cache-dir', cacheDir, '--concurrency', '1', '--out', out],
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = readJson<{ cache: { errors?: number }; requests: { this_invocation: number } }>(join(out, 'report.json'));
    // A write per request; a miss is looked up in memory, and cannot fail.
    expect(report.cache.errors).toBe(report.requests.this_invocation);
    expect(run.stderr).toContain(`the response cache at ${cacheDir} failed ${report.cache.errors} reads or writes (is its disk full?)`);
    const rejects = readJsonl<RejectRecord>(join(out, 'rejects.jsonl'));
    expect(rejects).toHaveLength(2);
    for (const reject of rejects) {
      expect(reject.output_key).toBeUndefined();
      expect(() => JSON.parse(reject.raw_output) as unknown).not.toThrow();
    }
  });

  it('cuts off the part of an entry the disk took, so the segment ends with its last whole record', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'raiden-cache-fsize-'));
    // A 1 KiB file size limit is a disk that fills in the middle of the entry's write.
    const script = `
      import { LocalResponseCache } from ${JSON.stringify(join(ROOT, 'orchestrator/src/store/local-response-cache.ts'))};
      const cache = await LocalResponseCache.open(${JSON.stringify(cacheDir)});
      try {
        await cache.put('ab'.repeat(32), { text: 'x'.repeat(8192), model: 'm', usage: { inputTokens: 1, outputTokens: 1 } });
        console.log('stored');
      } catch (error) {
        console.log(error.code);
      }`;
    const child = spawnSync('bash', ['-c', 'ulimit -f 1; exec "$0" --input-type=module -e "$1"', process.execPath, script], {
      encoding: 'utf8',
    });
    expect(child.stdout.trim(), child.stderr).toBe('EFBIG');
    const segments = join(cacheDir, 'responses-v2', 'segments');
    expect(readdirSync(segments).map((name) => statSync(join(segments, name)).size)).toEqual([0]);
    const cache = await LocalResponseCache.open(cacheDir);
    expect(await cache.get('ab'.repeat(32))).toBeUndefined();
    await cache.put('ab'.repeat(32), { text: 'stored', model: 'm', usage: { inputTokens: 1, outputTokens: 1 } });
    expect((await (await LocalResponseCache.open(cacheDir)).get('ab'.repeat(32)))?.text).toBe('stored');
  });
});
