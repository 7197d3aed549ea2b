/**
 * The installed command as a user's shell runs it: `bin/raiden.mjs` in its own Node process. Most CLI tests
 * call the same entry function in process; these few check the process boundary itself (exit codes, the
 * streams, files written relative to the working directory).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { readJson, readJsonl, ROOT, runCliProcess } from '../support/run-cli.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({});
});
afterAll(async () => server.close());

describe('the raiden command in its own process', () => {
  it('prints help and exits 0', async () => {
    const result = await runCliProcess(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: raiden/);
    expect(result.stdout).toMatch(/generate/);
  });

  it('exits 2 on a usage error, with the message on stderr and no stack', async () => {
    const result = await runCliProcess(['generate', '--profiles', 'examples/npc.json', '--samples-per-profile', '-1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--samples-per-profile/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('generates a dataset against an OpenAI-compatible server and exits 0', async () => {
    const out = mkdtempSync(join(tmpdir(), 'raiden-smoke-'));
    const result = await runCliProcess(['generate', '--profiles', join(ROOT, 'examples/npc.json'), '--endpoint', server.url, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(samples.length).toBeGreaterThan(0);
    expect(readJson<{ status: string }>(join(out, 'report.json')).status).toBe('complete');
    for (const file of ['train.json', 'validation.json', 'dataset_stats.json', 'rejects.jsonl', 'run.json'])
      expect(existsSync(join(out, file)), file).toBe(true);
  });
});

describe('help and version', () => {
  it('prints the version', async () => {
    const result = await runCliProcess(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^raiden-datagen \d+\.\d+\.\d+$/u);
  });

  it('shows our own deploy flags first, without running cdk', async () => {
    const result = await runCliProcess(['deploy', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('Usage: raiden deploy [-c key=value ...] [cdk options]');
    expect(result.stdout).toMatch(/--skip-doctor/u);
    expect(result.stdout).toMatch(/cdk's own options: npx cdk deploy --help/u);
    expect(result.stdout.split('\n').length).toBeLessThan(25);
  });
});
