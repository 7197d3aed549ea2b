/**
 * Adversarial, small scale: two `raiden generate` on one run directory, in separate processes and in one
 * process. Exactly one writes; the other exits 2 naming the holder and never calls the model, so no GPU
 * work is paid twice and no sample is written twice.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeSample, type ChatRequestBody } from '../../bench/simulated-sglang/role-model.ts';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { CHARACTEREVAL_PROFILES, collectOutput, readJson, runCli, startCli } from '../support/run-cli.ts';
import { duplicateIds, readRun, samplesWritten, until } from './run-files.ts';

let server: TestServer | undefined;
let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await server?.close();
  await Promise.all(closers.map((close) => close()));
  server = undefined;
  closers = [];
});

const SLOTS = 20;

/** An OpenAI-compatible server answering with the simulated role model; after `answered` requests it holds the rest until released. */
async function gatedServer(answered: number) {
  let open = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  let chats = 0;
  const http = createServer((request, response) => {
    if (request.url === '/v1/models') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"data": [{"id": "gated"}]}');
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      if (++chats > answered) await gate;
      const content = fakeSample(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequestBody);
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ model: 'gated', choices: [{ message: { content } }], usage: { prompt_tokens: 100, completion_tokens: 50 } }));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        open();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, chats: () => chats, release: () => open() };
}
const generate = (url: string, out: string) => [
  'generate',
  '--profiles',
  CHARACTEREVAL_PROFILES,
  '--max-profiles',
  '10',
  '--endpoint',
  url,
  '--out',
  out,
  '--concurrency',
  '2',
  '--max-attempts',
  '20',
];

describe('one writer per run directory', () => {
  it('a second process on a busy --out exits 2 naming the first, and calls no model', async () => {
    // The first run stays busy, its answers held after the fourth, until the second has had its say.
    const gated = await gatedServer(4);
    const out = mkdtempSync(join(tmpdir(), 'raiden-two-writers-'));
    const first = startCli(generate(gated.url, out));
    const firstDone = collectOutput(first);
    await until(first, () => samplesWritten(out) >= 1 && gated.chats() > 4, 'it wrote a sample and waits for more');
    const second = await collectOutput(startCli(generate(gated.url, out)));
    gated.release();
    expect(second.stderr).toMatch(
      new RegExp(
        `--out ${out} is being written by raiden generate \\(pid ${first.pid} on .*\\) since .*: wait for it to finish or stop it`,
        'u',
      ),
    );
    expect(second.stderr).not.toMatch(/unexpected error|\n\s+at /u);
    expect(second.code).toBe(2);

    const done = await firstDone;
    expect(done.code, done.stderr).toBe(0);
    const { samples, rejects } = readRun(out);
    expect(duplicateIds(samples)).toEqual([]);
    expect(samples).toHaveLength(SLOTS);
    // Every request the server saw was the first process's: one per sample kept or attempt rejected.
    expect(gated.chats()).toBe(SLOTS + rejects);
    expect(readJson<{ run_id: string }>(join(out, 'report.json')).run_id).toBe(readJson<{ run_id: string }>(join(out, 'run.json')).run_id);
  });

  it('two runs started at the same moment in one process: exactly one proceeds', async () => {
    server = await startTestServer({ latencyMs: 50 });
    const out = mkdtempSync(join(tmpdir(), 'raiden-two-writers-'));
    const results = await Promise.all([runCli(generate(server.url, out)), runCli(generate(server.url, out))]);
    expect(results.map((result) => result.code).sort()).toEqual([0, 2]);
    expect(results.find((result) => result.code === 2)?.stderr).toMatch(
      /is being written by raiden generate \(pid \d+ on .*, claim [0-9a-f]{8}\)/u,
    );
    const { samples, rejects } = readRun(out);
    expect(duplicateIds(samples)).toEqual([]);
    expect(samples).toHaveLength(SLOTS);
    expect(server.stats.chatRequests).toBe(SLOTS + rejects);
  });
});
