/**
 * What a cache hit counts for: a record of its model in the ledger, but no tokens paid in this run; what
 * it saved, priced; and a resumed slot going on with new attempts instead of replaying the rejected ones.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGeneration } from '../../orchestrator/src/core/run/generation-run.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import type { ResponseCache, CachedResponse } from '../../orchestrator/src/core/ports/response-cache.ts';
import { prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { CachedBackend, newCacheStats } from '../../orchestrator/src/core/run/response-cache.ts';
import { buildUsageLedger, cacheSavingsReport, type CacheLedger } from '../../orchestrator/src/core/report/run-cost.ts';
import { attemptsMade } from '../../orchestrator/src/core/run/run-pipeline.ts';
import { parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { MemoryRunStore } from '../support/memory-run-store.ts';
import { ROOT } from '../support/run-cli.ts';
import { scriptedBackend } from '../support/scripted-backend.ts';

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const usage = { input_tokens: 1_000_000, output_tokens: 100_000 };
const sample = (backend: string, model: string, cached: boolean) =>
  ({ id: 'a/SBK/0', metadata: { backend, model, usage, ...(cached ? { cached: true } : {}) } }) as unknown as Sample;
const reject = (cached: boolean): RejectRecord => ({
  slot_id: 'a/SBK/1',
  attempt: 1,
  reason: 'keyword_not_in_answer',
  detail: '',
  raw_output: '{}',
  backend: 'bedrock',
  model: SONNET,
  usage,
  ...(cached ? { cached: true as const } : {}),
  rejected_at: '2026-01-01T00:00:00Z',
});

describe('the cost of a run with cache hits', () => {
  it('counts a hit as its model’s record without paid tokens, and prices what hits saved: Bedrock by tokens, SGLang by GPU time', async () => {
    const cached: CacheLedger = {};
    const ledger = await buildUsageLedger(
      [sample('bedrock', SONNET, true), sample('bedrock', SONNET, false), sample('sglang', 'qwen', true)],
      [reject(true)],
      [],
      cached,
    );
    expect(ledger[`bedrock:${SONNET}`]).toMatchObject({ samples: 2, rejects: 1, input_tokens: 1_000_000, output_tokens: 100_000 });
    expect(ledger['sglang:qwen']).toMatchObject({ samples: 1, input_tokens: 0, output_tokens: 0 });
    expect(cached[`bedrock:${SONNET}`]).toMatchObject({ hits: 2, input_tokens: 2_000_000, output_tokens: 200_000 });

    const saved = cacheSavingsReport(cached, DEFAULT_PRICES);
    // Two Sonnet answers of 1M input and 100k output tokens at $3/$15 per million; 100k SGLang output tokens at 2,500/s on a $63/h p5en.
    expect(saved.by_model[`bedrock:${SONNET}`]?.usd_saved).toBeCloseTo(2 * (3 + 1.5), 4);
    expect(saved.by_model['sglang:qwen']?.usd_saved).toBeCloseTo((100_000 / 2_500 / 3600) * 63, 4);
    expect(saved).toMatchObject({ hits: 3, input_tokens_saved: 3_000_000, output_tokens_saved: 300_000 });
    expect(saved.usd_saved).toBeCloseTo(9 + (100_000 / 2_500 / 3600) * 63, 3);
  });

  it('leaves usd_saved open when a hit’s model is not in the price table', () => {
    const saved = cacheSavingsReport(
      {
        'bedrock:unknown.model': {
          backend: 'bedrock',
          model: 'unknown.model',
          hits: 1,
          input_tokens: 1,
          output_tokens: 1,
          cache_read_input_tokens: 0,
          cache_write_input_tokens: 0,
        },
      },
      DEFAULT_PRICES,
    );
    expect(saved.usd_saved).toBeNull();
  });
});

describe('a slot resumed through the cache', () => {
  it('goes on numbering its attempts, so the model is asked anew instead of replaying the rejected answers', async () => {
    const profiles = join(ROOT, 'examples/profiles.en.jsonl');
    const prepared = prepareRun(
      parseRunSpec({ profiles, samplesPerProfile: 1, maxProfiles: 1 }),
      { bytes: readFileSync(profiles), location: profiles },
      { startedAt: new Date() },
    );
    const entries = new Map<string, CachedResponse>();
    const cache: ResponseCache = {
      location: 'memory',
      get: async (key) => entries.get(key),
      put: async (key, value) => void entries.set(key, value),
    };
    const model = scriptedBackend({ name: 'sglang', flaw: () => 'ungrounded' });
    const store = new MemoryRunStore();
    const options = {
      profiles: prepared.profiles,
      slots: prepared.slots,
      store,
      existing: [],
      concurrency: 1,
      maxAttempts: 3,
      strategy: 'sglang',
    };
    const first = await runGeneration({ ...options, backend: new CachedBackend(model, cache, newCacheStats()) });
    expect(first.emptySlots).toEqual([{ slot_id: prepared.slots[0]?.id, attempts: 3, last_reason: 'keyword_not_in_profile' }]);

    const second = await runGeneration({
      ...options,
      backend: new CachedBackend(model, cache, newCacheStats()),
      attemptsBefore: await attemptsMade(store),
    });
    expect(store.rejects.map((r) => r.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second.counters).toMatchObject({ cacheHits: 0, requests: 3 });
    expect(second.emptySlots[0]?.attempts).toBe(6);
    expect(model.calls).toHaveLength(6);
  });
});
