import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, TransportError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { cliHint } from '../../orchestrator/src/cli/backend-hints.ts';
import { backoffDelayMs, parseRetryAfterMs, type RetryPolicy } from '../../orchestrator/src/llm/retry-policy.ts';
import {
  normalizeEndpoint,
  SglangBackend,
  SglangUnavailableError,
  type SglangUnavailableReason,
} from '../../orchestrator/src/llm/sglang-backend.ts';
import { faultSequence, startTestServer } from '../../bench/simulated-sglang/server.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';

const request = SBK_REQUEST;
const fastRetry = { maxRetries: 4, baseDelayMs: 10, maxDelayMs: 50 };

let closers: (() => Promise<void>)[] = [];
async function serve(...args: Parameters<typeof startTestServer>) {
  const server = await startTestServer(...args);
  closers.push(() => server.close());
  return server;
}
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(closers.map((close) => close()));
  closers = [];
});

/** Records each retry delay the backend asks for and returns at once, so no test waits out a backoff. */
function recordingSleep() {
  const delays: number[] = [];
  const sleep = (ms: number) => {
    delays.push(ms);
    return Promise.resolve();
  };
  return { delays, sleep };
}

/** Full jitter: retry n waits a whole number of ms in [0, min(max, base * 2^n)). */
function expectFullJitter(delays: readonly number[], policy: RetryPolicy): void {
  delays.forEach((delay, retry) => {
    expect(Number.isInteger(delay)).toBe(true);
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry));
  });
}

interface HeldServer {
  readonly url: string;
  /** Chat requests received so far. */
  readonly received: () => number;
  /** The most chat requests held at once. */
  readonly maxHeld: () => number;
  /** Resolves once at least `count` chat requests are held. */
  whenHolding(count: number): Promise<void>;
  /** Answers the oldest held chat request. */
  releaseOne(): void;
}

/**
 * An OpenAI-compatible endpoint whose chat completions wait until the test answers them: a busy server is
 * then a state the test sets, not a latency it hopes the scheduler keeps to under load.
 */
async function serveHeld(models: readonly string[] = ['held-model']): Promise<HeldServer> {
  const held: ServerResponse[] = [];
  const watchers: { count: number; resolve: () => void }[] = [];
  let received = 0;
  let maxHeld = 0;
  const server = createServer((req, res) => {
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: models.map((id) => ({ id })) }));
      return;
    }
    req.resume().on('end', () => {
      received++;
      held.push(res);
      maxHeld = Math.max(maxHeld, held.length);
      for (const watcher of watchers.filter((w) => held.length >= w.count)) {
        watchers.splice(watchers.indexOf(watcher), 1);
        watcher.resolve();
      }
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
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    maxHeld: () => maxHeld,
    whenHolding: (count) => (held.length >= count ? Promise.resolve() : new Promise((resolve) => watchers.push({ count, resolve }))),
    releaseOne: () => {
      const res = held.shift();
      if (res === undefined) throw new Error('no request is held');
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          model: models[0],
          choices: [{ message: { content: '{}' } }],
          usage: { prompt_tokens: 1, completion_tokens: 1 },
        }),
      );
    },
  };
}

/** The error as the backend reports it anywhere: a reason, and a message that names no CLI flag. */
function expectUnavailable(error: unknown, reason: SglangUnavailableReason): SglangUnavailableError {
  expect(error).toBeInstanceOf(BackendUnavailableError);
  expect(error).toBeInstanceOf(SglangUnavailableError);
  const unavailable = error as SglangUnavailableError;
  expect(unavailable.reason).toBe(reason);
  expect(unavailable.message).not.toMatch(/--|RAIDEN_API_KEY|launch_server/u);
  return unavailable;
}

/** What the CLI prints: the backend's message, then its own advice. */
function asCliPrintsIt(error: SglangUnavailableError): string {
  return `${error.message}: ${cliHint(error)}`;
}

const START_SGLANG =
  'start SGLang there (e.g. `python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --port 30000`), pass --endpoint URL, or use --dry-run to plan without a server';

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

  it.each(['rate_limit', 'rate_limit_no_header', 'server_error', 'reset', 'malformed_body'] as const)(
    'retries %s and then succeeds',
    async (fault) => {
      const server = await serve({ fault: faultSequence([fault, fault]) });
      const { delays, sleep } = recordingSleep();
      const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, sleep });
      const result = await backend.generate(request);
      expect(result.requests).toBe(3);
      expect(server.stats.chatRequests).toBe(3);
      expect(delays).toHaveLength(2);
      // The server's Retry-After: 1 wins over the backoff; without one, the backoff applies.
      if (fault === 'rate_limit') expect(delays).toEqual([1000, 1000]);
      else expectFullJitter(delays, fastRetry);
    },
  );

  it('times out a hung request and retries it', async () => {
    let hung!: () => void;
    const hanging = new Promise<void>((resolve) => (hung = resolve));
    const server = await serve({
      fault: (n) => {
        if (n > 1) return undefined;
        hung();
        return 'hang';
      },
    });
    const { delays, sleep } = recordingSleep();
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, requestTimeoutMs: 300, sleep });
    // Only the request timer is faked: the sockets stay real, and the timeout fires when the test says so.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const result = backend.generate(request);
    await hanging;
    vi.advanceTimersByTime(300);
    expect((await result).requests).toBe(2);
    expect(server.stats.faults).toEqual({ hang: 1 });
    expect(delays).toHaveLength(1);
  });

  it('gives up with a TransportError counting every request once retries run out', async () => {
    const server = await serve({ fault: () => 'server_error' });
    const { delays, sleep } = recordingSleep();
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, sleep });
    const error = await backend.generate(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).requests).toBe(5);
    expect((error as Error).message).toMatch(/HTTP 500/);
    // No wait after the last request; the ceiling doubles from 10 ms and stops at maxDelayMs (50).
    expect(delays).toHaveLength(4);
    expectFullJitter(delays, fastRetry);
  });

  it('balances by least outstanding requests over several endpoints', async () => {
    const busy = await serveHeld();
    const fast = await serve();
    const backend = await SglangBackend.connect({ endpoints: [busy.url, fast.url], retry: fastRetry });
    expect(backend.models().sort()).toEqual(['held-model', 'test-model']);
    const counts = () => [busy.received(), fast.stats.chatRequests];

    // Nothing outstanding: two calls at once go one to each endpoint.
    const first = [backend.generate(request), backend.generate(request)];
    await busy.whenHolding(1);
    await Promise.race(first);
    expect(counts()).toEqual([1, 1]);

    // While one request waits on the busy endpoint, every new one goes to the idle endpoint.
    for (let i = 0; i < 10; i++) await backend.generate(request);
    expect(counts()).toEqual([1, 11]);

    // Once it answers, it gets work again.
    busy.releaseOne();
    await Promise.all(first);
    const second = [backend.generate(request), backend.generate(request)];
    await busy.whenHolding(1);
    busy.releaseOne();
    await Promise.all(second);
    expect(counts()).toEqual([2, 12]);
  });

  it('never has more than maxInFlight requests on the wire', async () => {
    const server = await serveHeld();
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, maxInFlight: 3 });
    const calls = Array.from({ length: 12 }, () => backend.generate(request));
    await server.whenHolding(3);
    expect(backend.inFlight()).toBe(3);
    // Answer one request each time the limit is full again: a fourth would have to arrive meanwhile to exceed it.
    for (let answered = 0; answered < 12; answered++) {
      await server.whenHolding(Math.min(3, 12 - answered));
      server.releaseOne();
    }
    await Promise.all(calls);
    expect(server.maxHeld()).toBe(3);
    expect(server.received()).toBe(12);
    expect(backend.inFlight()).toBe(0);
  });

  it('frees its place while a call waits out Retry-After, so other calls go ahead', async () => {
    const server = await serve({ fault: faultSequence(['rate_limit']) });
    const delays: number[] = [];
    let wake!: () => void;
    let parked!: () => void;
    const waiting = new Promise<void>((resolve) => (parked = resolve));
    const sleep = (ms: number) => {
      delays.push(ms);
      parked();
      return new Promise<void>((resolve) => (wake = resolve));
    };
    const backend = await SglangBackend.connect({ endpoints: [server.url], retry: fastRetry, maxInFlight: 1, sleep });
    const finished: string[] = [];
    const first = backend.generate(request).then(() => finished.push('throttled call'));
    await waiting;
    expect(delays).toEqual([1000]);
    expect(backend.inFlight()).toBe(0);
    await backend.generate(request).then(() => finished.push('second call'));
    wake();
    await first;
    expect(finished).toEqual(['second call', 'throttled call']);
  });

  it('sends the API key, and says plainly when it is rejected', async () => {
    const server = await serve({ apiKey: 'sekret' });
    const error = await SglangBackend.connect({ endpoints: [server.url], apiKey: 'wrong' }).catch((e: unknown) => e);
    const rejected = expectUnavailable(error, 'api_key_rejected');
    expect(rejected.message).toBe(`${server.url} rejected the API key (HTTP 401)`);
    expect(asCliPrintsIt(rejected)).toBe(`${server.url} rejected the API key (HTTP 401): pass --api-key or set RAIDEN_API_KEY`);
    const backend = await SglangBackend.connect({ endpoints: [server.url], apiKey: 'sekret' });
    await expect(backend.generate(request)).resolves.toMatchObject({ requests: 1 });
  });

  it('fails fast on an unreachable endpoint, naming the URL', async () => {
    const server = await serve();
    const url = server.url;
    await server.close();
    const error = expectUnavailable(await SglangBackend.connect({ endpoints: [url] }).catch((e: unknown) => e), 'unreachable');
    expect(error.message).toBe(`cannot reach ${url} (ECONNREFUSED)`);
    expect(asCliPrintsIt(error)).toBe(`cannot reach ${url} (ECONNREFUSED): ${START_SGLANG}`);
  });

  it('tells a server that is not OpenAI-compatible from one that lists no model', async () => {
    const server = await serve();
    const elsewhere = expectUnavailable(
      await SglangBackend.connect({ endpoints: [`${server.url}/elsewhere`] }).catch((e: unknown) => e),
      'not_openai_compatible',
    );
    expect(elsewhere.message).toBe(`${server.url}/elsewhere/v1/models answered HTTP 404`);
    expect(asCliPrintsIt(elsewhere)).toBe(
      `${server.url}/elsewhere/v1/models answered HTTP 404: is this an OpenAI-compatible server? ${START_SGLANG}`,
    );

    const empty = await serveHeld([]);
    const noModel = expectUnavailable(await SglangBackend.connect({ endpoints: [empty.url] }).catch((e: unknown) => e), 'no_model_listed');
    expect(asCliPrintsIt(noModel)).toBe(`${empty.url}/v1/models lists no model: pass --model NAME`);
  });

  it('normalises endpoint URLs and rejects non-URLs', () => {
    expect(normalizeEndpoint('http://h:30000/v1/')).toBe('http://h:30000');
    const badUrl = (url: string) => {
      try {
        normalizeEndpoint(url);
      } catch (error) {
        return expectUnavailable(error, 'bad_url');
      }
      throw new Error(`${url} was accepted`);
    };
    expect(badUrl('localhost:30000').message).toMatch(/must use http or https/);
    expect(asCliPrintsIt(badUrl('not a url'))).toBe('endpoint "not a url" is not a URL: use the form http://host:30000');
  });

  it('leaves the CLI nothing to add to other errors', () => {
    expect(cliHint(new BackendUnavailableError('Bedrock is down'))).toBeUndefined();
    expect(cliHint(new TransportError('HTTP 500', 1))).toBeUndefined();
    expect(cliHint('not an error')).toBeUndefined();
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
