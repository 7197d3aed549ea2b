import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runGeneration } from '../../orchestrator/src/core/generation-run.ts';
import { planSlots } from '../../orchestrator/src/core/plan.ts';
import { parseProfiles } from '../../orchestrator/src/core/profile-loader.ts';
import { AdaptiveLimiter } from '../../orchestrator/src/llm/adaptive-limiter.ts';
import { BedrockBackend } from '../../orchestrator/src/llm/bedrock-backend.ts';
import { CircuitBreaker } from '../../orchestrator/src/llm/circuit-breaker.ts';
import { BackendUnavailableError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { startBedrockTestServer, TEST_CREDENTIALS, type BedrockTestServer } from '../../bench/simulated-bedrock/server.ts';
import { CHARACTEREVAL_PROFILES } from '../support/run-cli.ts';

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
    const client = new BedrockRuntimeClient({ region: 'us-east-1', endpoint: server.url, credentials: TEST_CREDENTIALS, maxAttempts: options.sdkMaxAttempts });
    const backend = new BedrockBackend({ modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', client, maxConcurrency: options.ceiling, retry: { maxRetries: 12, baseDelayMs: 50, maxDelayMs: 1_000 } });
    const store = await LocalRunStore.open(mkdtempSync(join(tmpdir(), 'raiden-limiter-')));
    await store.prepareAppends();
    const slots = planSlots(profiles, { samplesPerProfile: 3, cmPerProfile: 1, language: 'auto', seed: 7 }).slice(0, options.slots);
    const outcome = await runGeneration({ profiles: byId, slots, backend, store, existing: [], concurrency: 64, maxAttempts: 3, strategy: 'bedrock' });
    const stats = server.stats;
    const seconds = ((stats.lastSuccessAt ?? 0) - (stats.firstSuccessAt ?? 0)) / 1000;
    return { outcome, stats, limiter: backend.limiterStats(), achievedRatio: (stats.succeeded - 1) / seconds / options.ratePerSecond };
  }

  it('holds throughput near the throttle limit without losing a sample', async () => {
    const settings = { slots: 240, ratePerSecond: 120, latencyMs: 60, ceiling: 32, sdkMaxAttempts: 1 };
    const { outcome, stats, limiter, achievedRatio } = await run(settings);
    // Figures for the record (not asserted: wall time depends on the machine).
    console.info(
      `limiter: ${stats.succeeded} answered, ${stats.throttled} throttled of ${stats.requests} requests; achieved/allowed ${(achievedRatio * 100).toFixed(0)}%; limit now ${limiter.limit}, peak ${limiter.peakLimit}, ${limiter.cuts} cuts`,
    );
    expect(outcome.counters.accepted).toBe(settings.slots);
    expect(outcome.emptySlots).toEqual([]);
    expect(outcome.counters.rejectsByReason).toEqual({});
    expect(stats.succeeded).toBe(settings.slots);
    // Throttles stay a minority of requests instead of a retry storm, and the ceiling holds.
    expect(stats.throttled).toBeLessThan(stats.succeeded * 0.5);
    expect(limiter.cuts).toBeGreaterThan(0);
    expect(limiter.peakLimit).toBeLessThanOrEqual(settings.ceiling);
    expect(stats.maxConcurrent).toBeLessThanOrEqual(settings.ceiling);
  });
});
