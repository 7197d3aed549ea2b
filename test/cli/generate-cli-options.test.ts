import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { startTestServer, type TestServer, type TestServerOptions } from '../../bench/simulated-sglang/server.ts';
import { CHARACTEREVAL_PROFILES, collectOutput, readJson, readJsonl, runCli, startCli } from '../support/run-cli.ts';

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
async function serve(options: TestServerOptions = {}) {
  const server = await startTestServer(options);
  servers.push(server);
  return server;
}
const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-cli-'));

describe('raiden generate options', () => {
  it('spreads requests over every --endpoint and requests --model by name', async () => {
    const a = await serve({ latencyMs: 10 });
    const b = await serve({ latencyMs: 10 });
    const out = tempDir();
    const result = await runCli([
      'generate',
      '--profiles',
      'examples/profiles.zh.json',
      '--endpoint',
      a.url,
      '--endpoint',
      `${b.url}/v1/`,
      '--model',
      'my-served-name',
      '--concurrency',
      '4',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    expect(a.stats.chatRequests).toBeGreaterThan(0);
    expect(b.stats.chatRequests).toBeGreaterThan(0);
    expect(a.stats.chatRequests + b.stats.chatRequests).toBe(6);
    expect({ ...a.stats.models, ...b.stats.models }).toEqual({ 'my-served-name': expect.any(Number) });
    expect(readJsonl<Sample>(join(out, 'samples.jsonl')).every((s) => s.metadata.model === 'test-model')).toBe(true);
  });

  it('reads the API key from RAIDEN_API_KEY', async () => {
    const server = await serve({ apiKey: 'from-env' });
    const ok = await runCli(['generate', '--profiles', 'examples/npc.json', '--endpoint', server.url, '--out', tempDir()], undefined, {
      RAIDEN_API_KEY: 'from-env',
    });
    expect(ok.code).toBe(0);
    const denied = await runCli(['generate', '--profiles', 'examples/npc.json', '--endpoint', server.url, '--out', tempDir()]);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/rejected the API key.*RAIDEN_API_KEY/);
  });

  it('uses only the first --max-profiles profiles and forces --language', async () => {
    const server = await serve();
    const out = tempDir();
    const result = await runCli([
      'generate',
      '--profiles',
      CHARACTEREVAL_PROFILES,
      '--endpoint',
      server.url,
      '--max-profiles',
      '5',
      '--samples-per-profile',
      '1',
      '--language',
      'en',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    const samples = readJsonl<Sample>(join(out, 'samples.jsonl'));
    expect(samples).toHaveLength(5);
    expect(samples.every((s) => s.metadata.language === 'en')).toBe(true);
  });

  it('quits at once on a second Ctrl-C, with status 130', async () => {
    const server = await serve({ latencyMs: 5_000 });
    const out = tempDir();
    const child = startCli([
      'generate',
      '--profiles',
      CHARACTEREVAL_PROFILES,
      '--endpoint',
      server.url,
      '--concurrency',
      '2',
      '--out',
      out,
    ]);
    const done = collectOutput(child);
    while (server.stats.chatRequests < 2) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    const result = await done;
    // The requests in flight take 5 s; only the second Ctrl-C ends the process before they answer.
    expect(result.code).toBe(130);
    expect(server.stats.chatRequests).toBe(2);
  });

  it('stops taking new slots on Ctrl-C, keeps what was accepted, and a rerun finishes the job', async () => {
    const server = await serve({ latencyMs: 50 });
    const out = tempDir();
    const args = ['generate', '--profiles', CHARACTEREVAL_PROFILES, '--endpoint', server.url, '--out', out];
    const child = startCli([...args, '--concurrency', '2']);
    const done = collectOutput(child);
    const samplesFile = join(out, 'samples.jsonl');
    while (!existsSync(samplesFile) || readFileSync(samplesFile, 'utf8').split('\n').length < 6)
      await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const interrupted = await done;
    expect(interrupted.code).toBe(1);
    expect(interrupted.stderr).toMatch(/stopping after the requests in flight/);
    const report = readJson<RunReport>(join(out, 'report.json'));
    expect(report.status).toBe('stopped');
    expect(report.samples.accepted).toBeLessThan(156);
    expect(report.samples.accepted).toBe(readJsonl(samplesFile).length);

    const rerun = await runCli([...args, '--concurrency', '32']);
    expect(rerun.code).toBe(0);
    expect(readJsonl(samplesFile)).toHaveLength(156);
  });
});
