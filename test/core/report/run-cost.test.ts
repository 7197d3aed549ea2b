import { describe, expect, it } from 'vitest';
import { DEFAULT_PRICES, mergePriceFile, type Prices } from '../../../orchestrator/src/core/report/model-prices.ts';
import { buildUsageLedger, costReport, type ModelLedgerRow, type UsageLedger } from '../../../orchestrator/src/core/report/run-cost.ts';
import type { EvaluationRecord } from '../../../orchestrator/src/core/review/sample-evaluation.ts';
import type { RejectRecord, ReviewCall, Sample, TokenUsage } from '../../../orchestrator/src/core/verify/sample.ts';
import { MemoryRunStore } from '../../support/memory-run-store.ts';

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

const usage = (input_tokens: number, output_tokens: number, extra: Partial<TokenUsage> = {}): TokenUsage => ({
  input_tokens,
  output_tokens,
  ...extra,
});
const call = (purpose: string, backend: string, model: string, used: TokenUsage): ReviewCall => ({ purpose, backend, model, usage: used });

function sample(id: string, backend: string, model: string, used: TokenUsage, reviewCalls?: ReviewCall[]): Sample {
  return {
    id,
    character_name: 'Ann',
    character_profile: { bio: 'a baker in Tallinn' },
    conversation_history: [],
    question: 'Where do you bake?',
    reasoning: 'r',
    answer: 'In Tallinn.',
    keywords: ['Tallinn'],
    keyword_alternatives: [[]],
    question_type: 'where',
    validation_method: 'single_term_validation',
    difficulty: 'easy',
    metadata: {
      kind: 'SBK',
      backend,
      model,
      language: 'en',
      strategy: 'filter',
      generated_at: '2025-01-01T00:00:00Z',
      usage: used,
      attempt: 1,
      focus: 'field:bio|where',
      ...(reviewCalls ? { review_calls: reviewCalls } : {}),
    },
  };
}

function reject(slot: string, backend: string, model: string, used: TokenUsage, reviewCalls?: ReviewCall[]): RejectRecord {
  return {
    slot_id: slot,
    attempt: 1,
    reason: 'keyword_not_in_answer',
    detail: 'd',
    raw_output: '{}',
    backend,
    model,
    usage: used,
    rejected_at: '2025-01-01T00:00:00Z',
    ...(reviewCalls ? { review_calls: reviewCalls } : {}),
  };
}

const row = (backend: string, model: string, counts: Partial<ModelLedgerRow>): ModelLedgerRow => ({
  backend,
  model,
  samples: 0,
  rejects: 0,
  review_calls: 0,
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_write_input_tokens: 0,
  ...counts,
});

describe('buildUsageLedger', () => {
  it('sums samples, rejects, the review calls on both, and evaluation judge calls per backend:model', async () => {
    const samples = [
      sample('Ann/SBK/0', 'sglang', 'qwen', usage(1000, 200), [
        call('judge', 'bedrock', SONNET, usage(500, 40, { cache_read_input_tokens: 300 })),
      ]),
      sample('Ann/SBK/1', 'sglang', 'qwen', usage(1100, 250)),
      sample('Ann/CM/0', 'bedrock', SONNET, usage(900, 300, { cache_write_input_tokens: 800 })),
    ];
    const rejects = [
      reject('Ann/SBK/2', 'sglang', 'qwen', usage(1200, 260), [
        call('judge', 'bedrock', SONNET, usage(520, 35)),
        call('keyword_agreement', 'sglang', 'qwen', usage(80, 20)),
      ]),
      // A call that failed for good has no model: it is not a reject of any model, but its review calls still cost.
      reject('Ann/SBK/3', 'sglang', '', usage(0, 0), [call('judge', 'bedrock', SONNET, usage(10, 1))]),
    ];
    const evaluations: EvaluationRecord[] = [
      {
        sample_id: 'Ann/SBK/0',
        sample_backend: 'sglang',
        sample_model: 'qwen',
        score: 9,
        reason: 'good',
        passed: true,
        judge_calls: [call('evaluation', 'bedrock', SONNET, usage(600, 50))],
      },
      {
        sample_id: 'Ann/SBK/1',
        sample_backend: 'sglang',
        sample_model: 'qwen',
        score: null,
        reason: 'failed',
        passed: false,
        judge_calls: [],
      },
    ];
    const ledger = await buildUsageLedger(samples, rejects, evaluations);
    expect(ledger).toEqual({
      'sglang:qwen': row('sglang', 'qwen', {
        samples: 2,
        rejects: 1,
        review_calls: 1,
        input_tokens: 1000 + 1100 + 1200 + 80,
        output_tokens: 200 + 250 + 260 + 20,
      }),
      [`bedrock:${SONNET}`]: row('bedrock', SONNET, {
        samples: 1,
        review_calls: 4,
        input_tokens: 500 + 900 + 520 + 10 + 600,
        output_tokens: 40 + 300 + 35 + 1 + 50,
        cache_read_input_tokens: 300,
        cache_write_input_tokens: 800,
      }),
    });
  });

  it('reads a run store as it streams, and is empty for an empty run', async () => {
    const store = new MemoryRunStore();
    await store.appendSample(sample('Ann/SBK/0', 'sglang', 'qwen', usage(10, 5)));
    await store.appendReject(reject('Ann/SBK/1', 'sglang', 'qwen', usage(7, 3)));
    expect(await buildUsageLedger(store.readSamples(), store.readRejects())).toEqual({
      'sglang:qwen': row('sglang', 'qwen', { samples: 1, rejects: 1, input_tokens: 17, output_tokens: 8 }),
    });
    expect(await buildUsageLedger([], [])).toEqual({});
  });
});

describe('costReport', () => {
  const tokens = { input_tokens: 1_000_000, output_tokens: 200_000, cache_read_input_tokens: 2_000_000, cache_write_input_tokens: 400_000 };
  // Sonnet 4.5: $3 input, $15 output, cache reads 10% of input, cache writes 125% of input, per million tokens.
  const sonnetUsd = 3 + 0.2 * 15 + 2 * 0.3 + 0.4 * 3.75;

  it('prices Bedrock tokens from the price table, cache reads and writes at their own rates', () => {
    const ledger: UsageLedger = { [`bedrock:${SONNET}`]: row('bedrock', SONNET, { samples: 10, ...tokens }) };
    const report = costReport(ledger, DEFAULT_PRICES, { wallSeconds: 3600 });
    expect(sonnetUsd).toBeCloseTo(8.1, 10);
    expect(report.by_model[`bedrock:${SONNET}`]).toMatchObject({
      samples: 10,
      usd: 8.1,
      price: '$3/$15 per M input/output tokens, cache read $0.3',
    });
    expect(report.by_backend).toEqual({
      bedrock: { samples: 10, rejects: 0, review_calls: 0, input_tokens: 3_400_000, output_tokens: 200_000, usd: 8.1 },
    });
    // No SGLang rows: the wall time costs nothing.
    expect(report.sglang).toBeNull();
    expect(report.total_usd).toBe(8.1);
    expect(report.prices_as_of).toBe(DEFAULT_PRICES.asOf);
  });

  it('gives bedrock-batch the batch discount of the price table', () => {
    const ledger: UsageLedger = {
      [`bedrock:${SONNET}`]: row('bedrock', SONNET, tokens),
      [`bedrock-batch:${SONNET}`]: row('bedrock-batch', SONNET, tokens),
    };
    const report = costReport(ledger, DEFAULT_PRICES, { wallSeconds: 0 });
    expect(report.by_model[`bedrock-batch:${SONNET}`]!.usd).toBe(4.05);
    expect(report.by_model[`bedrock-batch:${SONNET}`]!.price).toContain('batch inference at 50% of that');
    expect(report.by_model[`bedrock:${SONNET}`]!.price).not.toContain('batch');
    expect(report.by_backend['bedrock-batch']!.usd).toBe(4.05);
    expect(report.total_usd).toBe(12.15);
  });

  it('uses the prices it is given, not the built-in table', () => {
    const prices: Prices = {
      asOf: '2030-01-01',
      gpuUsdPerHour: 10,
      bedrock: { 'acme.writer': { inputUsdPerMTok: 1, outputUsdPerMTok: 2, batchFactor: 0.25 } },
    };
    const ledger: UsageLedger = {
      'bedrock:acme.writer-v2': row('bedrock', 'acme.writer-v2', {
        input_tokens: 2_000_000,
        output_tokens: 1_000_000,
        cache_read_input_tokens: 1_000_000,
      }),
      'bedrock-batch:acme.writer-v2': row('bedrock-batch', 'acme.writer-v2', { input_tokens: 2_000_000, output_tokens: 1_000_000 }),
      [`bedrock:${SONNET}`]: row('bedrock', SONNET, tokens),
    };
    const report = costReport(ledger, prices, { wallSeconds: 0 });
    // Without a cache price, cache reads cost as much as input.
    expect(report.by_model['bedrock:acme.writer-v2']!.usd).toBe(2 + 2 + 1);
    expect(report.by_model['bedrock-batch:acme.writer-v2']!.usd).toBe(1);
    expect(report.by_model[`bedrock:${SONNET}`]!.usd).toBeNull();
    expect(report.prices_as_of).toBe('2030-01-01');
  });

  it('gives an unknown Bedrock model usd null and says to add it with a price file', () => {
    const model = 'us.mistral.unknown-large-v9:0';
    const ledger: UsageLedger = {
      [`bedrock:${SONNET}`]: row('bedrock', SONNET, tokens),
      [`bedrock:${model}`]: row('bedrock', model, { samples: 3, input_tokens: 5_000, output_tokens: 1_000 }),
    };
    const report = costReport(ledger, DEFAULT_PRICES, { wallSeconds: 0 });
    expect(report.by_model[`bedrock:${model}`]).toMatchObject({
      samples: 3,
      usd: null,
      price: 'not in the price table: add it with --price-file',
    });
    // The backend's cost is unknown as a whole; the total holds what could be priced.
    expect(report.by_backend.bedrock!.usd).toBeNull();
    expect(report.total_usd).toBe(8.1);

    const withFile = mergePriceFile(
      JSON.stringify({ bedrock: { 'mistral.unknown-large': { inputUsdPerMTok: 2, outputUsdPerMTok: 6 } } }),
      'prices.json',
    );
    const priced = costReport(ledger, withFile, { wallSeconds: 0 });
    expect(priced.by_model[`bedrock:${model}`]!.usd).toBe(0.016);
    expect(priced.by_backend.bedrock!.usd).toBe(8.116);
  });

  it('costs SGLang as wall hours x instances x the GPU price, whatever its tokens', () => {
    const ledger: UsageLedger = {
      'sglang:qwen': row('sglang', 'qwen', { samples: 40, rejects: 5, input_tokens: 9_000_000, output_tokens: 3_000_000 }),
      'sglang:qwen-small': row('sglang', 'qwen-small', { review_calls: 12, input_tokens: 1_000, output_tokens: 100 }),
    };
    const report = costReport(ledger, DEFAULT_PRICES, { wallSeconds: 5400, sglangInstances: 2 });
    expect(report.sglang).toEqual({
      gpu_hours: 3,
      usd_per_hour: 63,
      usd: 189,
      basis: 'running time of the run (1 invocation) on 2 p5en.48xlarge (billed while up, busy or not)',
    });
    expect(report.by_model['sglang:qwen']).toMatchObject({ usd: null, price: 'GPU time: see sglang below' });
    expect(report.by_backend.sglang).toEqual({
      samples: 40,
      rejects: 5,
      review_calls: 12,
      input_tokens: 9_001_000,
      output_tokens: 3_000_100,
      usd: 189,
    });
    expect(report.total_usd).toBe(189);
    // One instance unless told otherwise.
    expect(costReport(ledger, { ...DEFAULT_PRICES, gpuUsdPerHour: 98 }, { wallSeconds: 1800 }).sglang).toMatchObject({
      gpu_hours: 0.5,
      usd: 49,
    });
  });

  it('totals GPU time and Bedrock tokens of a tiered run', () => {
    const ledger: UsageLedger = {
      'sglang:qwen': row('sglang', 'qwen', { samples: 90 }),
      [`bedrock:${SONNET}`]: row('bedrock', SONNET, tokens),
      [`bedrock-batch:${SONNET}`]: row('bedrock-batch', SONNET, tokens),
    };
    const report = costReport(ledger, DEFAULT_PRICES, { wallSeconds: 7200 });
    expect(report.total_usd).toBe(126 + 8.1 + 4.05);
    expect(Object.keys(report.by_backend).sort()).toEqual(['bedrock', 'bedrock-batch', 'sglang']);
  });

  it('costs nothing for an empty run', () => {
    expect(costReport({}, DEFAULT_PRICES, { wallSeconds: 100 })).toEqual({
      prices_as_of: DEFAULT_PRICES.asOf,
      by_model: {},
      by_backend: {},
      sglang: null,
      total_usd: 0,
    });
  });
});
