import { afterEach, describe, expect, it } from 'vitest';
import { BackendUnavailableError, TransportError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { backoffDelayMs, parseRetryAfterMs } from '../../orchestrator/src/llm/retry-policy.ts';
import { normalizeEndpoint, SglangBackend } from '../../orchestrator/src/llm/sglang-backend.ts';
import { faultSequence, startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';

const request = SBK_REQUEST;
const fastRetry = { maxRetries: 4, baseDelayMs: 10, maxDelayMs: 50 };

let servers: TestServer[] = [];
async function serve(...args: Parameters<typeof startTestServer>) {
  const server = await startTestServer(...args);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe('SGLang backend over real HTTP', () => {
  it('learns the served model and sends the schema as response_format json_schema', async () => {
    const server = await serve({ model: 'qwen-test' });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry });
    expect(backend.models()).toEqual(['qwen-test']);
    const result = await backend.generate(request);
    expect(result.model).toBe('qwen-test');
    expect(JSON.parse(result.text)).toMatchObject({ keywords: [expect.any(String)] });
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.requests).toBe(1);
    expect(server.stats.missingResponseFormat).toBe(0);
  });

  it.each(['rate_limit', 'rate_limit_no_header', 'server_error', 'reset', 'malformed_body'] as const)('retries %s and then succeeds', async (fault) => {
    const server = await serve({ fault: faultSequence([fault, fault]) });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry });
    const started = Date.now();
    const result = await backend.generate(request);
    expect(result.requests).toBe(3);
    expect(server.stats.chatRequests).toBe(3);
    // Retry-After: 1 is honoured (twice), the others use the fast test backoff.
    if (fault === 'rate_limit') expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it('times out a hung request and retries it', async () => {
    const server = await serve({ fault: faultSequence(['hang']) });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, requestTimeoutMs: 300 });
    const result = await backend.generate(request);
    expect(result.requests).toBe(2);
  });

  it('gives up with a TransportError counting every request once retries run out', async () => {
    const server = await serve({ fault: () => 'server_error' });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry });
    const error = await backend.generate(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).requests).toBe(5);
    expect((error as Error).message).toMatch(/HTTP 500/);
  });

  it('balances by least outstanding requests over several endpoints', async () => {
    const fast = await serve({ latencyMs: 5 });
    const slow = await serve({ latencyMs: 200 });
    const backend = await SglangBackend.connect({ endpoints: [fast.url, slow.url], retry: fastRetry });
    await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 5));
      return backend.generate(request);
    }));
    expect(fast.stats.chatRequests + slow.stats.chatRequests).toBe(40);
    expect(fast.stats.chatRequests).toBeGreaterThan(slow.stats.chatRequests * 2);
  });

  it('never has more than maxInFlight requests on the wire', async () => {
    const server = await serve({ latencyMs: 20 });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, maxInFlight: 3 });
    await Promise.all(Array.from({ length: 12 }, () => backend.generate(request)));
    expect(server.stats.maxConcurrent).toBe(3);
    expect(server.stats.chatRequests).toBe(12);
  });

  it('frees its place while a call waits out Retry-After, so other calls go ahead', async () => {
    const server = await serve({ fault: faultSequence(['rate_limit']) });
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, maxInFlight: 1 });
    const finished: string[] = [];
    const first = backend.generate(request).then(() => finished.push('throttled call'));
    await new Promise((r) => setTimeout(r, 50));
    const second = backend.generate(request).then(() => finished.push('second call'));
    await Promise.all([first, second]);
    expect(finished).toEqual(['second call', 'throttled call']);
  });

  it('sends the API key and explains a rejected one', async () => {
    const server = await serve({ apiKey: 'sekret' });
    await expect(SglangBackend.connect({ endpoints: [server.url], apiKey: 'wrong' })).rejects.toThrow(/rejected the API key.*--api-key or set RAIDEN_API_KEY/);
    const backend = await SglangBackend.connect({ endpoints: [server.url], apiKey: 'sekret' });
    await expect(backend.generate(request)).resolves.toMatchObject({ requests: 1 });
  });

  it('fails fast on an unreachable endpoint, naming the URL and how to start SGLang', async () => {
    const server = await serve();
    const url = server.url;
    await server.close();
    const error = await SglangBackend.connect({ endpoints: [url] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toContain(`cannot reach ${url}`);
    expect((error as Error).message).toMatch(/sglang\.launch_server/);
  });

  it('normalises endpoint URLs and rejects non-URLs', () => {
    expect(normalizeEndpoint('http://h:30000/v1/')).toBe('http://h:30000');
    expect(() => normalizeEndpoint('localhost:30000')).toThrow(/http/);
    expect(() => normalizeEndpoint('not a url')).toThrow(/not a URL/);
  });
});

describe('retry policy', () => {
  it('uses full jitter under an exponential ceiling', () => {
    const policy = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(0, policy, () => 0.999)).toBe(99);
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(400);
    expect(backoffDelayMs(10, policy, () => 0.999)).toBe(999);
  });

  it('reads Retry-After as seconds or an HTTP date, capped', () => {
    expect(parseRetryAfterMs('2')).toBe(2000);
    expect(parseRetryAfterMs(new Date(10_000).toUTCString(), 5_000)).toBe(5000);
    expect(parseRetryAfterMs('99999')).toBe(60_000);
    expect(parseRetryAfterMs(null)).toBeUndefined();
    expect(parseRetryAfterMs('soon')).toBeUndefined();
  });
});
