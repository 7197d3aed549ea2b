/**
 * An OpenAI-compatible server that misbehaves: answers too large to hold, bytes that are not UTF-8,
 * token counts that are not counts, credentials echoed back. None of it may crash the run, inflate the
 * report or reach a file; each is a failed attempt with a reason.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendUnavailableError, TransportError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../orchestrator/src/llm/http-client.ts';
import { redactSecrets } from '../../orchestrator/src/llm/redact.ts';
import { SglangBackend } from '../../orchestrator/src/llm/sglang-backend.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';

const noRetry = { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 1 };

interface Served {
  readonly url: string;
  readonly port: number;
  /** Chat requests received, with their Authorization header. */
  readonly chats: { authorization: string | undefined }[];
  /** Bytes of body the server managed to write before the client hung up. */
  bytesWritten(): number;
}

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((close) => close()));
  closers = [];
});

/** A server whose chat completions `answer` writes; /v1/models lists one model. */
async function serve(answer: (response: ServerResponse, request: IncomingMessage) => void): Promise<Served> {
  const chats: Served['chats'] = [];
  let written = 0;
  const server = createServer((request, response) => {
    if (request.url === '/v1/models') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"id":"hostile"}]}');
      return;
    }
    request.resume().on('end', () => {
      chats.push({ authorization: request.headers.authorization });
      const write = response.write.bind(response);
      response.write = ((chunk: Buffer | string, ...rest: never[]) => {
        written += Buffer.byteLength(chunk);
        return write(chunk, ...rest);
      }) as typeof response.write;
      answer(response, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, chats, bytesWritten: () => written };
}

function completion(content: string, usage: Record<string, unknown> = { prompt_tokens: 10, completion_tokens: 5 }): string {
  return JSON.stringify({ model: 'hostile', choices: [{ message: { content } }], usage });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('a response larger than the cap', () => {
  it('is abandoned while it streams in and counted as one failed attempt, not retried', async () => {
    // An endless answer: it only ends when the client hangs up.
    const server = await serve((response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (response.write(chunk));
      };
      response.on('drain', pump);
      pump();
    });
    const backend = await SglangBackend.connect({
      endpoints: [server.url],
      retry: { ...noRetry, maxRetries: 3 },
      maxResponseBytes: 256 * 1024,
    });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error).toBeInstanceOf(TransportError);
    expect(error.message).toContain('HTTP 200 response body is larger than the 256 KiB cap on one response');
    expect((error as TransportError).requests).toBe(1);
    expect(server.chats).toHaveLength(1);
  });

  it('is capped by default: a 17 MiB completion is refused', async () => {
    const huge = completion('x'.repeat(17 * 1024 * 1024));
    const server = await serve((response) => response.writeHead(200, { 'content-type': 'application/json' }).end(huge));
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: noRetry });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error.message).toContain(`larger than the ${DEFAULT_MAX_RESPONSE_BYTES / 1024 / 1024} MiB cap on one response`);
  });

  it('is refused from its Content-Length before any of it is read', async () => {
    const server = await serve((response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(512 * 1024 * 1024) });
      response.write('{"choices": [');
    });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: noRetry, maxResponseBytes: 1024 * 1024 });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error.message).toMatch(/larger than the 1 MiB cap/u);
  });
});

describe('server data is checked, not copied', () => {
  it('refuses a response whose bytes are not UTF-8, instead of reading U+FFFD into a question', async () => {
    const good = Buffer.from(completion('{"question": "Where do you bake?"}'));
    const bad = Buffer.concat([good.subarray(0, 40), Buffer.from([0xff, 0xfe]), good.subarray(40)]);
    const server = await serve((response) => response.writeHead(200, { 'content-type': 'application/json' }).end(bad));
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: { ...noRetry, maxRetries: 2 } });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error).toBeInstanceOf(TransportError);
    expect(error.message).toMatch(/response body is not valid UTF-8/u);
    expect((error as TransportError).requests).toBe(1);
  });

  it.each([
    ['a string', { prompt_tokens: 'lots', completion_tokens: 5 }, /usage\.prompt_tokens = "lots"/u],
    ['1e308', { prompt_tokens: 10, completion_tokens: 1e308 }, /usage\.completion_tokens = 1e\+308/u],
    ['a negative count', { prompt_tokens: -40, completion_tokens: 5 }, /usage\.prompt_tokens = -40/u],
    ['a fraction', { prompt_tokens: 10, completion_tokens: 2.5 }, /usage\.completion_tokens = 2\.5/u],
  ])('refuses usage with %s, naming the field and the value', async (_label, usage, message) => {
    const server = await serve((response) => response.writeHead(200, { 'content-type': 'application/json' }).end(completion('{}', usage)));
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: noRetry });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error).toBeInstanceOf(TransportError);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/not a token count/u);
  });

  it('reads absent usage as zero and a non-string model name as the one requested', async () => {
    const server = await serve((response) =>
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ model: { evil: true }, choices: [{ message: { content: '{}' } }] })),
    );
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: noRetry });
    const result = await backend.generate(SBK_REQUEST);
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(result.model).toBe('hostile');
  });
});

describe('credentials never reach a message', () => {
  it('drops URL user info and echoed Authorization, API key and bearer values from errors, and sends the user info as Basic auth', async () => {
    const server = await serve((response, request) =>
      response.writeHead(500, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: `bad request, headers were Authorization: ${request.headers.authorization} x-api-key: sk-live-123456 "api_key": "sk-live-123456"`,
        }),
      ),
    );
    const endpoint = `http://alice:s3cr3t-pw@127.0.0.1:${server.port}`;
    const backend = await SglangBackend.connect({ endpoints: [endpoint], retry: noRetry });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(server.chats[0]?.authorization).toBe(`Basic ${Buffer.from('alice:s3cr3t-pw').toString('base64')}`);
    expect(error.message).toContain(`http://[redacted]@127.0.0.1:${server.port}: HTTP 500`);
    for (const secret of ['alice', 's3cr3t-pw', 'sk-live-123456', Buffer.from('alice:s3cr3t-pw').toString('base64')])
      expect(error.message).not.toContain(secret);
  });

  it('drops the configured API key wherever a server echoes it', async () => {
    const server = await serve((response, request) =>
      response
        .writeHead(400, { 'content-type': 'text/plain' })
        .end(`unknown key ${request.headers.authorization?.slice(7)} for this model`),
    );
    const backend = await SglangBackend.connect({ endpoints: [server.url], apiKey: 'key-with-no-pattern-9f8e', retry: noRetry });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error.message).toContain('unknown key [redacted] for this model');
    expect(error.message).not.toContain('key-with-no-pattern-9f8e');
  });

  it('redacts the usual shapes and leaves token counts alone', () => {
    expect(
      redactSecrets(
        'GET https://u:p@h/x Authorization: Bearer abc.def-123 {"x-api-key":"k1k2k3k4","aws_session_token":"tok","completion_tokens": 12} password=hunter2',
      ),
    ).toBe(
      'GET https://[redacted]@h/x Authorization: Bearer [redacted] {"x-api-key":"[redacted]","aws_session_token":"[redacted]","completion_tokens": 12} password=[redacted]',
    );
  });
});

describe('Ctrl-C during a Retry-After', () => {
  it('ends the wait at once instead of sitting out max-retries pauses of a minute', async () => {
    const server = await serve((response) =>
      response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' }).end('{"error": "slow down"}'),
    );
    let slept = 0;
    const backend = await SglangBackend.connect({
      endpoints: [server.url],
      retry: { maxRetries: 6, baseDelayMs: 500, maxDelayMs: 20_000 },
      sleep: async (ms) => {
        slept += ms;
      },
      // The user presses Ctrl-C one second into the first pause.
      stopRequested: () => slept >= 1000,
    });
    const error = await failure(backend.generate(SBK_REQUEST));
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect(error.message).toBe('interrupted');
    expect(server.chats).toHaveLength(1);
    expect(slept).toBeLessThan(60_000);
  });

  it('starts no new request once a stop is requested', async () => {
    const server = await serve((response) => response.writeHead(200, { 'content-type': 'application/json' }).end(completion('{}')));
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: noRetry, stopRequested: () => true });
    await expect(backend.generate(SBK_REQUEST)).rejects.toThrow('interrupted');
    expect(server.chats).toHaveLength(0);
  });
});
