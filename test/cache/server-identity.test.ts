/**
 * The response cache answers only for the server that gave the answer: two SGLang servers that list the same
 * model name but load other weights (their model path) share nothing, and a rerun against the first server
 * is answered from the cache, as the run summary says. The bench measures without any cache, so the user's
 * is never read or written by it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateAcceptRateRun } from '../../bench/scenarios/accept-rate.ts';
import { fakeSample } from '../../bench/simulated-sglang/role-model.ts';
import { startTestServer } from '../../bench/simulated-sglang/server.ts';
import { runCli } from '../support/run-cli.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** An SGLang server as /v1/models and /get_model_info describe it: the same name, the weights of `modelPath`. */
async function sglang(modelPath: string): Promise<{ url: string; chats: () => number }> {
  let chats = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const reply = (value: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (request.url === '/v1/models') return reply({ data: [{ id: 'qwen-72b', owned_by: 'sglang' }] });
      if (request.url === '/get_model_info') return reply({ model_path: modelPath, is_generation: true });
      chats++;
      const content = fakeSample(JSON.parse(body) as Parameters<typeof fakeSample>[0]);
      reply({ model: 'qwen-72b', choices: [{ message: { content } }], usage: { prompt_tokens: 10, completion_tokens: 10 } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, chats: () => chats };
}

const cacheRow = (stdout: string) => /answers from the response cache\s+(\d+)/u.exec(stdout)?.[1];

describe('the response cache key', () => {
  it('holds what the server says it serves: another model path under the same name is asked again', async () => {
    const first = await sglang('/models/Qwen2.5-72B-Instruct');
    const other = await sglang('/models/Qwen2.5-72B-finetuned');
    const cacheDir = mkdtempSync(join(tmpdir(), 'raiden-identity-cache-'));
    const generate = (url: string) =>
      runCli([
        'generate',
        ...['--profiles', 'examples/npc.json', '--endpoint', url, '--cache-dir', cacheDir],
        ...['--out', mkdtempSync(join(tmpdir(), 'raiden-identity-run-'))],
      ]);

    const fresh = await generate(first.url);
    expect(fresh.code, fresh.stderr).toBe(0);
    const slots = first.chats();
    expect(slots).toBeGreaterThan(0);

    const elsewhere = await generate(other.url);
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect(other.chats()).toBe(slots);
    expect(cacheRow(elsewhere.stdout)).toBe('0');

    const again = await generate(first.url);
    expect(again.code, again.stderr).toBe(0);
    expect(first.chats()).toBe(slots);
    expect(cacheRow(again.stdout)).toBe(String(slots));
  });
});

describe('the accept-rate bench', () => {
  it("neither reads nor writes the user's response cache", async () => {
    const server = await startTestServer();
    const userCache = mkdtempSync(join(tmpdir(), 'raiden-user-cache-'));
    const saved = { off: process.env.RAIDEN_NO_CACHE, dir: process.env.RAIDEN_CACHE_DIR };
    // As on a user's machine: no RAIDEN_NO_CACHE, a cache directory of their own.
    delete process.env.RAIDEN_NO_CACHE;
    process.env.RAIDEN_CACHE_DIR = userCache;
    try {
      expect(await generateAcceptRateRun('examples/npc.json', server.url, mkdtempSync(join(tmpdir(), 'raiden-bench-run-')))).toBe(0);
    } finally {
      for (const [key, value] of [
        ['RAIDEN_NO_CACHE', saved.off],
        ['RAIDEN_CACHE_DIR', saved.dir],
      ] as const)
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      await server.close();
    }
    expect(server.stats.chatRequests).toBeGreaterThan(0);
    // Nothing made in it, whatever the cache's layout.
    expect(readdirSync(userCache)).toEqual([]);
  });
});
