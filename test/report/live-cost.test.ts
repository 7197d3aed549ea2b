import { describe, expect, it } from 'vitest';
import { newCounters } from '../../orchestrator/src/core/run/generation-run.ts';
import { liveCost } from '../../orchestrator/src/core/report/live-cost.ts';
import { DEFAULT_PRICES, P5EN_USD_PER_HOUR } from '../../orchestrator/src/core/report/model-prices.ts';
import { buildUsageLedger, costReport, type UsageLedger } from '../../orchestrator/src/core/report/run-cost.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

function row(backend: string, model: string, input: number, output: number): UsageLedger[string] {
  return {
    backend,
    model,
    samples: 1,
    rejects: 0,
    review_calls: 0,
    input_tokens: input,
    output_tokens: output,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
  };
}

describe('live cost', () => {
  it('prices Bedrock by tokens and SGLang by GPU time, and projects by the share of slots finished', () => {
    const counters = { ...newCounters(100, 20), accepted: 15, emptySlots: 5 };
    const cost = liveCost({
      counters,
      usage: { [`bedrock:${SONNET}`]: row('bedrock', SONNET, 1_000_000, 0), 'sglang:qwen': row('sglang', 'qwen', 5, 5) },
      prices: DEFAULT_PRICES,
      elapsedSeconds: 1800,
      sglangInstances: 2,
    });
    const soFar = 3 + 0.5 * 2 * P5EN_USD_PER_HOUR;
    expect(cost.usdSoFar).toBeCloseTo(soFar, 6);
    // 20 of the 80 slots left to this invocation are finished: the whole costs four times as much.
    expect(cost.projectedUsd).toBeCloseTo(4 * soFar, 6);
    expect(cost.unpriced).toEqual([]);
  });

  it('halves batch inference, names models without a price, and projects nothing before a slot finishes', () => {
    const cost = liveCost({
      counters: newCounters(10, 0),
      usage: { a: row('bedrock-batch', SONNET, 0, 1_000_000), b: row('bedrock', 'acme.unknown', 9, 9) },
      prices: DEFAULT_PRICES,
      elapsedSeconds: 60,
    });
    expect(cost.usdSoFar).toBeCloseTo(7.5, 6);
    expect(cost.projectedUsd).toBeUndefined();
    expect(cost.unpriced).toEqual(['bedrock:acme.unknown']);
  });

  it("agrees with report.json's cost for the same tokens and wall time", async () => {
    const sample = {
      id: 'p/SBK/0',
      metadata: { backend: 'bedrock', model: SONNET, usage: { input_tokens: 1234, output_tokens: 567, cache_read_input_tokens: 4000 } },
    } as unknown as Sample;
    const reject = {
      slot_id: 'p/SBK/1',
      backend: 'sglang',
      model: 'qwen',
      usage: { input_tokens: 10, output_tokens: 10 },
      review_calls: [{ purpose: 'judge', backend: 'bedrock', model: SONNET, usage: { input_tokens: 300, output_tokens: 40 } }],
    } as unknown as RejectRecord;
    const usage = await buildUsageLedger([sample], [reject]);
    const report = costReport(usage, DEFAULT_PRICES, { wallSeconds: 900, sglangInstances: 1 });
    const live = liveCost({ counters: newCounters(2, 0), usage, prices: DEFAULT_PRICES, elapsedSeconds: 900 });
    expect(live.usdSoFar).toBeCloseTo(report.total_usd, 4);
  });
});
