/**
 * `raiden reverify` killed after its commit journal and before the swap ends, then the same `raiden
 * generate` (as the docs advise after a crash), then `raiden reverify` again: generate finishes the swap
 * before it reads the run, so the next reverify has no stale staged file to rename over samples written since.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { LocalRunRewrite, writeCommitJournal } from '../../orchestrator/src/store/local-run-rewrite.ts';
import { CHARACTEREVAL_PROFILES, readJsonl, runCli } from '../support/run-cli.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const SLOTS = 20;

describe('a reverify interrupted in its swap', () => {
  it('is finished by the next raiden generate, which then fills what it dropped; the next reverify loses nothing', async () => {
    server = await startTestServer({ latencyMs: 2 });
    const out = mkdtempSync(join(tmpdir(), 'raiden-swap-'));
    const generate = [
      'generate',
      ...['--profiles', CHARACTEREVAL_PROFILES, '--max-profiles', '10', '--endpoint', server.url, '--out', out, '--no-cache'],
    ];
    expect((await runCli(generate)).code).toBe(0);
    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(samples).toHaveLength(SLOTS);

    // The reverify's staged run keeps all but 4 samples; it writes its journal and is killed before the first rename.
    const rewrite = await LocalRunRewrite.open(out);
    for (const sample of samples.slice(4)) await rewrite.staged.appendSample(sample);
    rewrite.staged.close();
    await writeCommitJournal(out);

    const resumed = await runCli(generate);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`finished the swap an interrupted raiden reverify left in ${out}`);
    expect(readJsonl<Sample>(join(out, 'samples.jsonl'))).toHaveLength(SLOTS);

    const reverified = await runCli(['reverify', '--run', out, '--no-fill', '--no-cache']);
    expect(reverified.code, reverified.stderr).toBe(0);
    const after = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(new Set(after.map((sample) => sample.id))).toEqual(new Set(samples.map((sample) => sample.id)));
    expect(readFileSync(join(out, 'samples.jsonl'), 'utf8').endsWith('\n')).toBe(true);
  });
});
