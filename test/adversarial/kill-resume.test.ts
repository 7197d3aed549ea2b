/**
 * Adversarial, small scale: kill -9 in the middle of a run, again and again, against a server that fails
 * and answers badly at random; resumers racing for the dead run's directory; Ctrl-C while a server asks
 * for a minute's pause. Nothing accepted is lost, no id is written twice, no line is torn, and no slot is
 * paid for twice.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import { mixedFaults, startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { CHARACTEREVAL_PROFILES, collectOutput, readJson, startCli } from '../support/run-cli.ts';
import { duplicateIds, killed, readRun, samplesWritten, until } from './run-files.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const SLOTS = 40;
const generate = (url: string, out: string, extra: readonly string[] = []) => [
  'generate',
  '--profiles',
  CHARACTEREVAL_PROFILES,
  '--max-profiles',
  '20',
  '--endpoint',
  url,
  '--out',
  out,
  '--concurrency',
  '4',
  '--max-attempts',
  '20',
  '--max-retries',
  '10',
  ...extra,
];

describe('kill -9 and resume', () => {
  it('four kills under random faults: every slot filled once, every line whole, the lock taken over each time', async () => {
    server = await startTestServer({ latencyMs: 25, fault: mixedFaults(0.15, 0.15, 7) });
    const out = mkdtempSync(join(tmpdir(), 'raiden-kill-'));
    for (let kill = 1; kill <= 4; kill++) {
      const child = startCli(generate(server.url, out));
      const target = Math.min(SLOTS - 1, samplesWritten(out) + 5);
      await until(child, () => samplesWritten(out) >= target, `it wrote ${target} samples`);
      await killed(child);
      expect(existsSync(join(out, 'run.lock'))).toBe(true);
      const { samples } = readRun(out);
      expect(duplicateIds(samples)).toEqual([]);
    }
    const resume = await collectOutput(startCli(generate(server.url, out)));
    expect(resume.stderr).toMatch(/raiden generate \(pid \d+ on .*\) no longer runs; this run takes over/u);
    expect(resume.code, resume.stderr).toBe(0);
    const { samples } = readRun(out);
    expect(samples).toHaveLength(SLOTS);
    expect(duplicateIds(samples)).toEqual([]);
    expect(readJson<RunReport>(join(out, 'report.json')).samples.accepted).toBe(SLOTS);
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
  });

  it('two resumers racing for a killed run: the work left is done once, by one of them', async () => {
    server = await startTestServer({ latencyMs: 40 });
    const out = mkdtempSync(join(tmpdir(), 'raiden-kill-race-'));
    const first = startCli(generate(server.url, out));
    await until(first, () => samplesWritten(out) >= 8, 'it wrote 8 samples');
    await killed(first);
    // Requests the killed process sent before it died may still be in this process's socket buffers.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = { requests: server.stats.chatRequests, ...readRun(out) };

    const results = await Promise.all([
      collectOutput(startCli(generate(server.url, out))),
      collectOutput(startCli(generate(server.url, out))),
    ]);
    expect(results.map((result) => result.code).every((code) => code === 0 || code === 2)).toBe(true);
    expect(results.some((result) => result.code === 0)).toBe(true);
    for (const refused of results.filter((result) => result.code === 2))
      expect(refused.stderr).toMatch(/is being written by raiden generate \(pid \d+/u);

    const after = readRun(out);
    expect(duplicateIds(after.samples)).toEqual([]);
    expect(after.samples).toHaveLength(SLOTS);
    // Each request after the kill filled a slot or was one rejected attempt: none was made twice.
    expect(server.stats.chatRequests - before.requests).toBe(SLOTS - before.samples.length + (after.rejects - before.rejects));
  });
});

describe('Ctrl-C', () => {
  it('while a server asks for a minute between retries: the run stops at once and keeps what it has', async () => {
    let chats = 0;
    const slow = createServer((request, response) => {
      if (request.url === '/v1/models') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"data": [{"id": "busy"}]}');
        return;
      }
      chats++;
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' }).end('{"error": "busy"}');
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const out = mkdtempSync(join(tmpdir(), 'raiden-ctrl-c-'));
      const child = startCli(generate(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`, out, ['--max-retries', '6']));
      const done = collectOutput(child);
      await until(child, () => chats >= 1, 'its first request');
      child.kill('SIGINT');
      const result = await done;
      expect(result.stderr).toMatch(/stopped early \(interrupted\); 0 samples are kept; run the same command again to continue/u);
      expect(result.code).toBe(1);
      expect(readJson<RunReport>(join(out, 'report.json')).status).toBe('stopped');
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
