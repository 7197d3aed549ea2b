import { BedrockRuntimeClient, ConverseCommand, ThrottlingException } from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runGeneration } from '../../orchestrator/src/core/run/generation-run.ts';
import { planSlots } from '../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../orchestrator/src/core/profiles/profile-loader.ts';
import { AdaptiveLimiter } from '../../orchestrator/src/llm/adaptive-limiter.ts';
import { BedrockBackend } from '../../orchestrator/src/llm/bedrock-backend.ts';
import { CircuitBreaker } from '../../orchestrator/src/llm/circuit-breaker.ts';
import { BackendUnavailableError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { startBedrockTestServer, TEST_CREDENTIALS, type BedrockTestServer } from '../../bench/simulated-bedrock/server.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';
import { CHARACTEREVAL_PROFILES } from '../support/run-cli.ts';

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

describe('adaptive limiter (AIMD)', () => {
  it('grows by one per window of successes and never above the ceiling', async () => {
    const limiter = new AdaptiveLimiter({ initial: 2, max: 5 });
    for (let i = 0; i < 100; i++) {
      await limiter.acquire();
      limiter.release();
      limiter.onSuccess();
    }
    expect(limiter.stats()).toMatchObject({ limit: 5, peakLimit: 5, cuts: 0 });
  });

  it('cuts by a fifth on a throttle, once per window, and not below the floor', async () => {
    const limiter = new AdaptiveLimiter({ initial: 16, max: 32 });
    const permits = await Promise.all(Array.from({ length: 16 }, () => limiter.acquire()));
    for (const permit of permits) {
      limiter.onThrottle(permit);
      limiter.release();
    }
    expect(limiter.stats()).toMatchObject({ limit: 12, cuts: 1, throttles: 16 });
    for (let i = 0; i < 20; i++) limiter.onThrottle(await limiter.acquire().finally(() => limiter.release()));
    expect(limiter.stats().limit).toBe(1);
  });

  it('makes callers wait while the limit is reached and wakes them as slots free', async () => {
    const limiter = new AdaptiveLimiter({ initial: 2, max: 2 });
    await limiter.acquire();
    await limiter.acquire();
    let third = false;
    const waiting = limiter.acquire().then(() => (third = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBe(false);
    limiter.release();
    await waiting;
    expect(third).toBe(true);
  });
});

describe('circuit breaker', () => {
  it('opens only after N failures in a row lasting the window, and a success resets it', () => {
    let now = 0;
    const breaker = new CircuitBreaker('Bedrock test', { failureThreshold: 3, openAfterMs: 10_000, now: () => now });
    for (let i = 0; i < 5; i++) breaker.onFailure('ThrottlingException');
    expect(breaker.isOpen()).toBe(false);
    breaker.onSuccess();
    now = 20_000;
    breaker.onFailure('x');
    breaker.onFailure('x');
    now = 31_000;
    breaker.onFailure('ServiceUnavailableException');
    expect(breaker.isOpen()).toBe(true);
    expect(() => breaker.check()).toThrow(BackendUnavailableError);
    expect(() => breaker.check()).toThrow(/failed 3 requests in a row over 11 s \(last: ServiceUnavailableException\)/u);
  });
});

describe('Bedrock backend against a throttling (token-bucket) server', () => {
  let server: BedrockTestServer | undefined;
  afterEach(async () => server?.close());
  const { profiles } = parseProfiles(readFileSync(CHARACTEREVAL_PROFILES), 'c.json');
  const byId = new Map(profiles.map((p) => [p.id, p]));

  async function run(options: { slots: number; ratePerSecond: number; latencyMs: number; ceiling: number; sdkMaxAttempts: number }) {
    server = await startBedrockTestServer({ latencyMs: options.latencyMs, rateLimit: { ratePerSecond: options.ratePerSecond, burst: 5 } });
    const client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: TEST_CREDENTIALS,
      maxAttempts: options.sdkMaxAttempts,
    });
    const backend = new BedrockBackend({
      modelId: MODEL,
      client,
      maxConcurrency: options.ceiling,
      retry: { maxRetries: 12, baseDelayMs: 50, maxDelayMs: 1_000 },
    });
    const store = await LocalRunStore.open(mkdtempSync(join(tmpdir(), 'raiden-limiter-')));
    await store.prepareAppends();
    const slots = planSlots(profiles, { samplesPerProfile: 3, cmPerProfile: 1, language: 'auto', seed: 7 }).slice(0, options.slots);
    const outcome = await runGeneration({
      profiles: byId,
      slots,
      backend,
      store,
      existing: [],
      concurrency: 64,
      maxAttempts: 3,
      strategy: 'bedrock',
    });
    const stats = server.stats;
    const seconds = ((stats.lastSuccessAt ?? 0) - (stats.firstSuccessAt ?? 0)) / 1000;
    return { outcome, stats, limiter: backend.limiterStats(), achievedRatio: (stats.succeeded - 1) / seconds / options.ratePerSecond };
  }

  it('loses no sample over real HTTP/2, and every throttle the server sends reaches the limiter', async () => {
    const settings = { slots: 240, ratePerSecond: 120, latencyMs: 60, ceiling: 32, sdkMaxAttempts: 1 };
    const { outcome, stats, limiter, achievedRatio } = await run(settings);
    // Figures for the record. How often this machine hits the quota depends on its speed and load, so the
    // rate-dependent claims are asserted in virtual time below; here only what holds at any speed.
    console.info(
      `limiter: ${stats.succeeded} answered, ${stats.throttled} throttled of ${stats.requests} requests; achieved/allowed ${(achievedRatio * 100).toFixed(0)}%; limit now ${limiter.limit}, peak ${limiter.peakLimit}, ${limiter.cuts} cuts`,
    );
    expect(outcome.counters.accepted).toBe(settings.slots);
    expect(outcome.emptySlots).toEqual([]);
    expect(outcome.counters.rejectsByReason).toEqual({});
    expect(stats.succeeded).toBe(settings.slots);
    expect(limiter.throttles).toBe(stats.throttled);
    expect(limiter.cuts > 0).toBe(stats.throttled > 0);
    expect(limiter.peakLimit).toBeLessThanOrEqual(settings.ceiling);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(settings.ceiling);
  });
});

describe('Bedrock backend against a token-bucket quota, in virtual time', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('holds throughput near the quota: cuts on throttles, keeps them a minority, stays under the ceiling', async () => {
    // Latency, backoff and the quota's refill all run on the fake clock, and the backoff jitter is fixed, so
    // the run is the same on any machine under any load.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const settings = { calls: 240, workers: 64, ratePerSecond: 120, burst: 5, latencyMs: 60, ceiling: 32 };
    const served = { answered: 0, throttled: 0, inFlight: 0, maxInFlight: 0, firstAt: 0, lastAt: 0 };
    let tokens = settings.burst;
    let refilledAt = Date.now();
    const client = new BedrockRuntimeClient({ region: 'us-east-1', credentials: TEST_CREDENTIALS });
    mockClient(client)
      .on(ConverseCommand)
      .callsFake(async () => {
        const now = Date.now();
        tokens = Math.min(settings.burst, tokens + ((now - refilledAt) / 1000) * settings.ratePerSecond);
        refilledAt = now;
        if (tokens < 1) {
          served.throttled++;
          throw new ThrottlingException({ message: 'Too many requests', $metadata: { httpStatusCode: 429 } });
        }
        tokens -= 1;
        served.maxInFlight = Math.max(served.maxInFlight, ++served.inFlight);
        await new Promise((resolve) => setTimeout(resolve, settings.latencyMs));
        served.inFlight--;
        served.answered++;
        served.firstAt ||= Date.now();
        served.lastAt = Date.now();
        return {
          output: { message: { role: 'assistant', content: [{ text: '{}' }] } },
          stopReason: 'end_turn',
          usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
          $metadata: {},
        };
      });
    const backend = new BedrockBackend({
      modelId: MODEL,
      client,
      maxConcurrency: settings.ceiling,
      retry: { maxRetries: 12, baseDelayMs: 50, maxDelayMs: 1_000 },
    });
    let started = 0;
    const done = Promise.all(
      Array.from({ length: settings.workers }, async () => {
        while (started++ < settings.calls) await backend.generate(SBK_REQUEST);
      }),
    );
    await vi.runAllTimersAsync();
    await done;

    const limiter = backend.limiterStats();
    const achievedRatio = (served.answered - 1) / ((served.lastAt - served.firstAt) / 1000) / settings.ratePerSecond;
    expect(served.answered).toBe(settings.calls);
    expect(limiter.throttles).toBe(served.throttled);
    expect(limiter.cuts).toBeGreaterThan(0);
    // Throttles stay a minority of requests instead of a retry storm, and the ceiling holds.
    expect(served.throttled).toBeLessThan(served.answered * 0.5);
    expect(limiter.peakLimit).toBeLessThanOrEqual(settings.ceiling);
    expect(served.maxInFlight).toBeLessThanOrEqual(settings.ceiling);
    expect(achievedRatio).toBeGreaterThan(0.6);
  });
});
