import { DEFAULT_COST_ASSUMPTIONS } from './cost-estimate.ts';
import { bedrockPrice, tokenCostUsd, type Prices, type TokenCounts } from './model-prices.ts';
import type { EvaluationRecord } from '../review/sample-evaluation.ts';
import type { RejectRecord, ReviewCall, Sample, TokenUsage } from '../verify/sample.ts';

/** Tokens and calls of one `backend:model` over everything a run directory holds. */
export interface ModelLedgerRow {
  readonly backend: string;
  readonly model: string;
  samples: number;
  rejects: number;
  /** Judge, gate and evaluation calls this model answered. */
  review_calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}

export type UsageLedger = Record<string, ModelLedgerRow>;

/** Answers of one `backend:model` that the response cache gave, and what they cost when they were made. */
export interface CacheLedgerRow {
  readonly backend: string;
  readonly model: string;
  hits: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_input_tokens: number;
}

export type CacheLedger = Record<string, CacheLedgerRow>;

function addUsage(row: Omit<ModelLedgerRow, 'samples' | 'rejects' | 'review_calls'>, usage: TokenUsage): void {
  row.input_tokens += usage.input_tokens;
  row.output_tokens += usage.output_tokens;
  row.cache_read_input_tokens += usage.cache_read_input_tokens ?? 0;
  row.cache_write_input_tokens += usage.cache_write_input_tokens ?? 0;
}

/** The row of one `backend:model`, created empty on first use. */
export function ledgerRow(ledger: UsageLedger, backend: string, model: string): ModelLedgerRow {
  return (ledger[`${backend}:${model}`] ??= {
    backend,
    model,
    samples: 0,
    rejects: 0,
    review_calls: 0,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_write_input_tokens: 0,
  });
}

/**
 * Sums every model call the run directory records: samples, rejects, and the review calls on both. An
 * answer the response cache gave counts as a sample, reject or review call of its model, but its tokens
 * were not paid in this run: they go to `cached` when given, and nowhere otherwise.
 */
export async function buildUsageLedger(
  samples: Iterable<Sample> | AsyncIterable<Sample>,
  rejects: Iterable<RejectRecord> | AsyncIterable<RejectRecord>,
  evaluations: readonly EvaluationRecord[] = [],
  cached: CacheLedger = {},
): Promise<UsageLedger> {
  const ledger: UsageLedger = {};
  const hit = (backend: string, model: string, usage: TokenUsage) => {
    const entry = (cached[`${backend}:${model}`] ??= {
      backend,
      model,
      hits: 0,
      input_tokens: 0,
      output_tokens: 0,
      cache_read_input_tokens: 0,
      cache_write_input_tokens: 0,
    });
    entry.hits++;
    addUsage(entry, usage);
  };
  const row = (backend: string, model: string) => ledgerRow(ledger, backend, model);
  const addCalls = (calls: unknown) => {
    if (!Array.isArray(calls)) return;
    for (const call of calls as ReviewCall[]) {
      const entry = row(call.backend, call.model);
      entry.review_calls++;
      if (call.cached) hit(call.backend, call.model, call.usage);
      else addUsage(entry, call.usage);
    }
  };
  for await (const sample of samples) {
    const entry = row(sample.metadata.backend, sample.metadata.model);
    entry.samples++;
    if (sample.metadata.cached) hit(sample.metadata.backend, sample.metadata.model, sample.metadata.usage);
    else addUsage(entry, sample.metadata.usage);
    addCalls(sample.metadata.review_calls);
  }
  for await (const reject of rejects) {
    if (reject.model !== '') {
      const entry = row(reject.backend, reject.model);
      entry.rejects++;
      if (reject.cached) hit(reject.backend, reject.model, reject.usage);
      else addUsage(entry, reject.usage);
    }
    addCalls(reject.review_calls);
  }
  for (const record of evaluations) addCalls(record.judge_calls);
  return ledger;
}

const usd = (value: number) => Math.round(value * 10_000) / 10_000;

/**
 * Cost per backend and model: Bedrock from tokens and the price table (cache reads and writes at their own
 * rates), SGLang as GPU time (`wallSeconds`, the time the run's invocations were running, on
 * `sglangInstances` p5en.48xlarge, which bill whether busy or not).
 */
export function costReport(
  ledger: UsageLedger,
  prices: Prices,
  options: { readonly wallSeconds: number; readonly sglangInstances?: number; readonly invocations?: number },
) {
  const byModel: Record<string, ModelLedgerRow & { usd: number | null; price: string }> = {};
  const backends: Record<
    string,
    { samples: number; rejects: number; review_calls: number; input_tokens: number; output_tokens: number; usd: number | null }
  > = {};
  let total = 0;
  const instances = options.sglangInstances ?? 1;
  const gpuHours = (options.wallSeconds / 3600) * instances;
  for (const [key, row] of Object.entries(ledger)) {
    let cost: number | null = null;
    let price = 'GPU time: see sglang below';
    if (row.backend === 'bedrock' || row.backend === 'bedrock-batch') {
      const found = bedrockPrice(row.model, prices.bedrock);
      if (found !== undefined) {
        cost = tokenCostUsd(row as TokenCounts, found, { batch: row.backend === 'bedrock-batch' });
        price = `$${found.inputUsdPerMTok}/$${found.outputUsdPerMTok} per M input/output tokens${found.cacheReadUsdPerMTok !== undefined ? `, cache read $${usd(found.cacheReadUsdPerMTok)}` : ''}${row.backend === 'bedrock-batch' ? `; batch inference at ${Math.round(found.batchFactor * 100)}% of that` : ''}`;
      } else {
        price = 'not in the price table: add it with --price-file';
      }
    }
    byModel[key] = { ...row, usd: cost === null ? null : usd(cost), price };
    const backend = (backends[row.backend] ??= { samples: 0, rejects: 0, review_calls: 0, input_tokens: 0, output_tokens: 0, usd: 0 });
    backend.samples += row.samples;
    backend.rejects += row.rejects;
    backend.review_calls += row.review_calls;
    backend.input_tokens += row.input_tokens + row.cache_read_input_tokens + row.cache_write_input_tokens;
    backend.output_tokens += row.output_tokens;
    if (row.backend !== 'sglang') {
      backend.usd = cost === null || backend.usd === null ? null : usd(backend.usd + cost);
      total += cost ?? 0;
    }
  }
  const sglangUsed = backends.sglang !== undefined;
  const sglangUsd = sglangUsed ? gpuHours * prices.gpuUsdPerHour : 0;
  if (backends.sglang !== undefined) backends.sglang.usd = usd(sglangUsd);
  total += sglangUsd;
  return {
    prices_as_of: prices.asOf,
    by_model: byModel,
    by_backend: backends,
    sglang: sglangUsed
      ? {
          // Six places: a short run's GPU time (a few seconds) must not read as 0 hours beside its cost.
          gpu_hours: Math.round(gpuHours * 1e6) / 1e6,
          usd_per_hour: prices.gpuUsdPerHour,
          usd: usd(sglangUsd),
          basis: `running time of the run (${invocationsText(options.invocations ?? 1)}) on ${instances} p5en.48xlarge (billed while up, busy or not)`,
        }
      : null,
    total_usd: usd(total),
  };
}

export type CostReport = ReturnType<typeof costReport>;

/** A cost section's row per model as report.json records it: its counts and tokens, whatever it was priced at. */
export type RecordedModelRow = Pick<
  ModelLedgerRow,
  'backend' | 'model' | 'samples' | 'rejects' | 'review_calls' | 'input_tokens' | 'output_tokens'
> &
  Partial<Pick<ModelLedgerRow, 'cache_read_input_tokens' | 'cache_write_input_tokens'>>;

/**
 * The cost section again at other prices (`raiden report --price-file`), from the tokens per model and the
 * running time report.json recorded: the same figures generate would have written at those prices.
 */
export function repriceCost(
  byModel: Readonly<Record<string, RecordedModelRow>>,
  prices: Prices,
  options: { readonly wallSeconds: number; readonly sglangInstances?: number; readonly invocations?: number },
) {
  const ledger: UsageLedger = {};
  for (const recorded of Object.values(byModel)) {
    const row = ledgerRow(ledger, recorded.backend, recorded.model);
    row.samples += recorded.samples;
    row.rejects += recorded.rejects;
    row.review_calls += recorded.review_calls;
    addUsage(row, recorded);
  }
  const { prices_as_of, by_model, sglang, total_usd } = costReport(ledger, prices, options);
  return { prices_as_of, by_model, sglang, total_usd };
}

const invocationsText = (count: number) => (count === 1 ? '1 invocation' : `${count.toLocaleString('en-US')} invocations joined`);

/**
 * report.json's `cache` section: answers the response cache gave over the run, the tokens they did not
 * spend again, and what that saved: Bedrock at the price table, SGLang as the GPU time the output tokens
 * would have taken on one p5en.48xlarge at the estimate's throughput.
 */
export function cacheSavingsReport(cached: CacheLedger, prices: Prices) {
  const tokensPerSecond = DEFAULT_COST_ASSUMPTIONS.sglangTokensPerSecond;
  let hits = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let total = 0;
  let priced = true;
  const byModel: Record<string, CacheLedgerRow & { usd_saved: number | null }> = {};
  for (const [key, row] of Object.entries(cached)) {
    let saved: number | null = null;
    if (row.backend === 'sglang') saved = (row.output_tokens / tokensPerSecond / 3600) * prices.gpuUsdPerHour;
    else {
      const found = bedrockPrice(row.model, prices.bedrock);
      if (found !== undefined) saved = tokenCostUsd(row as TokenCounts, found, { batch: row.backend === 'bedrock-batch' });
    }
    byModel[key] = { ...row, usd_saved: saved === null ? null : usd(saved) };
    hits += row.hits;
    inputTokens += row.input_tokens + row.cache_read_input_tokens + row.cache_write_input_tokens;
    outputTokens += row.output_tokens;
    if (saved === null) priced = false;
    else total += saved;
  }
  return {
    hits,
    input_tokens_saved: inputTokens,
    output_tokens_saved: outputTokens,
    usd_saved: priced ? usd(total) : null,
    by_model: byModel,
    basis: `Bedrock at the price table (as of ${prices.asOf}); SGLang as the GPU time of the output tokens at ${tokensPerSecond.toLocaleString('en-US')} tokens/s on one p5en.48xlarge at $${prices.gpuUsdPerHour}/h`,
  };
}
