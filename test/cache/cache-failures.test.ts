/**
 * A response cache that cannot store answers (its disk full) costs no data and is not silent: the run
 * counts the failures in report.json and says so on stderr, and a write the disk cut short leaves no
 * staged file behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { faultSequence, startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import type { RejectRecord } from '../../orchestrator/src/core/verify/sample.ts';
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
    // Every directory an entry would go in is a file: the cache opens, and then every read and write fails.
    mkdirSync(join(cacheDir, 'responses-v1', 'entries'), { recursive: true });
    for (let byte = 0; byte < 256; byte++) writeFileSync(join(cacheDir, 'responses-v1', 'entries', byte.toString(16).padStart(2, '0')), '');
    const out = mkdtempSync(join(tmpdir(), 'raiden-cache-full-run-'));
    const run = await runCli([
      'generate',
      ...['--profiles', 'examples/npc.json', '--endpoint', server.url, '--cache-dir', cacheDir, '--concurrency', '1', '--out', out],
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = readJson<{ cache: { errors?: number }; requests: { this_invocation: number } }>(join(out, 'report.json'));
    // A read and a write per request.
    expect(report.cache.errors).toBe(2 * report.requests.this_invocation);
    expect(run.stderr).toContain(`the response cache at ${cacheDir} failed ${report.cache.errors} reads or writes (is its disk full?)`);
    const rejects = readJsonl<RejectRecord>(join(out, 'rejects.jsonl'));
    expect(rejects).toHaveLength(2);
    for (const reject of rejects) {
      expect(reject.output_key).toBeUndefined();
      expect(() => JSON.parse(reject.raw_output) as unknown).not.toThrow();
    }
  });

  it('leaves no staged file when the disk takes only part of an entry', () => {
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
    expect(readdirSync(join(cacheDir, 'responses-v1', 'tmp'))).toEqual([]);
  });
});
