/**
 * What a server sends back never carries the user's URL credentials into a file or the terminal, in any
 * form it echoes them in; its model id cannot drive the terminal or break out of the dataset card's
 * Markdown; and URL credentials can come from the environment instead of the process list.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { codeSpan } from '../../orchestrator/src/core/export/markdown-text.ts';
import { normalizeEndpoint } from '../../orchestrator/src/llm/sglang-backend.ts';
import { fakeSample } from '../../bench/simulated-sglang/role-model.ts';
import { runCli } from '../support/run-cli.ts';

const USER = 'svc-user';
const PASSWORD = 'pw-s3cret-7781';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (running === undefined) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

async function serve(handler: (request: IncomingMessage, body: string, response: ServerResponse) => void): Promise<number> {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => handler(request, body, response));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const json = (response: ServerResponse, status: number, value: unknown) =>
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

describe('URL credentials a server echoes', () => {
  it('reach neither rejects.jsonl, report.json, report.html nor the terminal, bare or base64', async () => {
    const port = await serve((request, _body, response) => {
      if (request.url === '/v1/models') return json(response, 200, { data: [{ id: 'echo' }] });
      const auth = (request.headers.authorization ?? '').replace(/^Basic /u, '');
      const [user, password] = Buffer.from(auth, 'base64').toString().split(':');
      json(response, 400, { error: { message: `bad request from ${user} (password ${password}, credentials ${auth})` } });
    });
    const out = mkdtempSync(join(tmpdir(), 'raiden-echo-'));
    const result = await runCli([
      'generate',
      ...['--profiles', 'examples/npc.json', '--endpoint', `http://${USER}:${PASSWORD}@127.0.0.1:${port}`],
      ...['--max-attempts', '1', '--max-retries', '0', '--concurrency', '1', '--out', out],
    ]);
    expect(result.code, result.stderr).toBe(3);
    expect(readFileSync(join(out, 'rejects.jsonl'), 'utf8')).toContain('bad request from');
    for (const file of readdirSync(out))
      for (const secret of [PASSWORD, BASIC]) expect(readFileSync(join(out, file), 'utf8'), file).not.toContain(secret);
    for (const secret of [PASSWORD, BASIC]) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it('a password holding / is not printed in the "is not a URL" error', () => {
    expect(() => normalizeEndpoint('http://svc:pa/ss-9911@host:30000')).toThrow(/is not a URL/u);
    try {
      normalizeEndpoint('http://svc:pa/ss-9911@host:30000');
    } catch (error) {
      expect((error as Error).message).not.toContain('ss-9911');
    }
  });

  it(`come from RAIDEN_ENDPOINT_AUTH instead of the URL, so ps does not show them`, async () => {
    const seen: string[] = [];
    const port = await serve((request, body, response) => {
      seen.push(request.headers.authorization ?? '');
      if (request.headers.authorization !== `Basic ${BASIC}`) return json(response, 401, { error: 'who are you' });
      if (request.url === '/v1/models') return json(response, 200, { data: [{ id: 'm' }] });
      const content = fakeSample(JSON.parse(body) as Parameters<typeof fakeSample>[0]);
      json(response, 200, { model: 'm', choices: [{ message: { content } }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const out = mkdtempSync(join(tmpdir(), 'raiden-env-auth-'));
    const args = ['generate', '--profiles', 'examples/npc.json', '--endpoint', `http://127.0.0.1:${port}`, '--out', out];
    const result = await runCli(args, undefined, { RAIDEN_ENDPOINT_AUTH: `${USER}:${PASSWORD}` });
    expect(result.code, result.stderr).toBe(0);
    expect(new Set(seen)).toEqual(new Set([`Basic ${BASIC}`]));
    for (const file of readdirSync(out)) expect(readFileSync(join(out, file), 'utf8'), file).not.toContain(PASSWORD);
  });
});

describe('the dataset card', () => {
  it('puts the profiles file name in a code span, whatever backticks and line breaks they hold', async () => {
    const port = await serve((request, body, response) => {
      if (request.url === '/v1/models') return json(response, 200, { data: [{ id: 'qwen' }] });
      const content = fakeSample(JSON.parse(body) as Parameters<typeof fakeSample>[0]);
      json(response, 200, { model: 'qwen', choices: [{ message: { content } }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const dir = mkdtempSync(join(tmpdir(), 'raiden-card-names-'));
    const profiles = join(dir, 'ro`les\n# injected.json');
    writeFileSync(profiles, readFileSync('examples/npc.json'));
    const out = join(dir, 'run');
    const generated = await runCli(['generate', '--profiles', profiles, '--endpoint', `http://127.0.0.1:${port}`, '--out', out]);
    expect(generated.code, generated.stderr).toBe(0);
    expect((await runCli(['export', '--run', out, '--format', 'sft', '--out', join(dir, 'sft')])).code).toBe(0);
    const readme = readFileSync(join(dir, 'sft', 'README.md'), 'utf8');
    expect(readme).toContain(codeSpan('ro`les\n# injected.json'));
    expect(readme).not.toMatch(/^# injected/mu);
  });
});

describe('a model id from /v1/models', () => {
  const HOSTILE = 'qwen\u001b]0;owned\u0007\u001b[2J```\n\n![x](http://attacker.example/p.png) [click](javascript:alert(1))';

  it('is printed with its escape sequences written out, never raw', async () => {
    const port = await serve((request, body, response) => {
      if (request.url === '/v1/models') return json(response, 200, { data: [{ id: HOSTILE }] });
      const content = fakeSample(JSON.parse(body) as Parameters<typeof fakeSample>[0]);
      json(response, 200, { model: HOSTILE, choices: [{ message: { content } }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    });
    const out = mkdtempSync(join(tmpdir(), 'raiden-model-id-'));
    const result = await runCli(['generate', '--profiles', 'examples/npc.json', '--endpoint', `http://127.0.0.1:${port}`, '--out', out]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('qwen\\u001b]0;owned\\u0007');
    expect(result.stdout + result.stderr).not.toContain('\u001b');

    const card = mkdtempSync(join(tmpdir(), 'raiden-model-card-'));
    expect((await runCli(['export', '--run', out, '--format', 'sft', '--out', join(card, 'sft')])).code).toBe(0);
    const readme = readFileSync(join(card, 'sft', 'README.md'), 'utf8');
    expect(readme).toContain(codeSpan(`sglang:${HOSTILE}`));
    expect(readme).not.toMatch(/^!\[x\]/mu);
    expect(readme).not.toContain('\u001b');
  });

  it('sits in one code span in Markdown, whatever backticks and line breaks it holds', () => {
    expect(codeSpan('qwen')).toBe('`qwen`');
    expect(codeSpan('a`b')).toBe('``a`b``');
    expect(codeSpan('`a``')).toBe('``` `a`` ```');
    expect(codeSpan('x\n\n![i](http://e/p.png)')).toBe('`x\\u000a\\u000a![i](http://e/p.png)`');
  });
});
