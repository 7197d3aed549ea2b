/**
 * raiden generate against a server that answers badly in every way at once: the run never crashes, every
 * bad answer is a reject with its reason, the report's numbers stay numbers, and no credential reaches a file.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import type { RejectRecord } from '../../orchestrator/src/core/verify/sample.ts';
import { readJson, readJsonl, ROOT, runCli } from '../support/run-cli.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

const USER = 'svc-user';
const PASSWORD = 'pw-s3cret-7781';
const API_KEY = 'sk-raiden-key-0042';

/** Each chat request gets the next bad answer, in turn. */
const BAD_ANSWERS = [
  // 1. Far more than --max-response-bytes.
  () => ({ status: 200, body: Buffer.from(JSON.stringify({ choices: [{ message: { content: 'x'.repeat(64 * 1024) } }] })) }),
  // 2. Token counts that are not counts.
  () => ({
    status: 200,
    body: Buffer.from(
      JSON.stringify({ choices: [{ message: { content: '{}' } }], usage: { prompt_tokens: 'lots', completion_tokens: 1e308 } }),
    ),
  }),
  // 3. Bytes that are not UTF-8 inside the answer.
  () => ({
    status: 200,
    body: Buffer.concat([Buffer.from('{"choices": [{"message": {"content": "Wh'), Buffer.from([0xc3, 0x28]), Buffer.from('ere?"}}]}')]),
  }),
  // 4. An error that echoes the request's credentials.
  (authorization: string) => ({
    status: 400,
    body: Buffer.from(
      JSON.stringify({
        error: `rejected request to http://${USER}:${PASSWORD}@upstream with Authorization: ${authorization}, api_key=${API_KEY}`,
      }),
    ),
  }),
];

async function hostileServer(): Promise<string> {
  let n = 0;
  server = createServer((request, response) => {
    if (request.url === '/v1/models') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"data": [{"id": "hostile"}]}');
      return;
    }
    request.resume().on('end', () => {
      const answer = BAD_ANSWERS[n++ % BAD_ANSWERS.length]?.(request.headers.authorization ?? '');
      response.writeHead(answer?.status ?? 500, { 'content-type': 'application/json' }).end(answer?.body);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://${USER}:${PASSWORD}@127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('raiden generate against a hostile server', () => {
  it('turns every bad answer into a reject with its reason, keeps the report numeric, and writes no credential', async () => {
    const endpoint = await hostileServer();
    const out = mkdtempSync(join(tmpdir(), 'raiden-hostile-'));
    const result = await runCli(
      [
        'generate',
        '--profiles',
        'examples/profiles.en.jsonl',
        '--endpoint',
        endpoint,
        '--max-attempts',
        '4',
        '--max-retries',
        '0',
        '--max-response-bytes',
        '16384',
        '--concurrency',
        '1',
        '--out',
        out,
      ],
      ROOT,
      { RAIDEN_API_KEY: API_KEY },
    );
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /u);
    expect(result.code).toBe(3);

    const rejects = readJsonl<RejectRecord>(join(out, 'rejects.jsonl'));
    const details = rejects.map((reject) => reject.detail).join('\n');
    expect(details).toContain('HTTP 200 response body is larger than the 16 KiB cap on one response');
    expect(details).toContain('usage.prompt_tokens = "lots", which is not a token count');
    expect(details).toContain('HTTP 200 response body is not valid UTF-8');
    expect(details).toContain('HTTP 400');
    // 3 profiles x 2 SBK slots, each refused at all 4 attempts.
    expect(rejects).toHaveLength(6 * 4);

    const report = readJson<RunReport>(join(out, 'report.json'));
    expect(report.tokens.this_invocation).toEqual({ input: 0, output: 0 });

    for (const file of readdirSync(out)) {
      const text = readFileSync(join(out, file), 'utf8');
      for (const secret of [PASSWORD, API_KEY, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')])
        expect(text, file).not.toContain(secret);
    }
    for (const secret of [PASSWORD, API_KEY]) expect(result.stderr + result.stdout).not.toContain(secret);
  });
});
