import { BEDROCK_PRICES, bedrockPrice, DEFAULT_BEDROCK_MODEL, P5EN_USD_PER_HOUR } from './model-prices.ts';
import type { SampleKind } from './sample.ts';

/** Prices and speeds the estimate rests on; every one is shown next to the estimate and overridable by a flag. */
export interface CostAssumptions {
  /** The Bedrock model's on-demand price, from the price table in model-prices.ts (USD per million tokens). */
  readonly bedrockInputUsdPerMTok: number;
  readonly bedrockOutputUsdPerMTok: number;
  /** Batch inference price as a share of on-demand. */
  readonly bedrockBatchFactor: number;
  /** Output tokens per second one Bedrock request streams at. */
  readonly bedrockTokensPerSecondPerRequest: number;
  readonly bedrockConcurrency: number;
  /** p5en.48xlarge on demand (USD per hour), from the price table. */
  readonly gpuUsdPerHour: number;
  /** Aggregate output tokens per second of the whole p5en (all servers together). */
  readonly sglangTokensPerSecond: number;
}

const defaultBedrockPrice =
  bedrockPrice(DEFAULT_BEDROCK_MODEL) ?? (BEDROCK_PRICES['anthropic.claude-sonnet-4-5'] as NonNullable<ReturnType<typeof bedrockPrice>>);

export const DEFAULT_COST_ASSUMPTIONS: CostAssumptions = {
  bedrockInputUsdPerMTok: defaultBedrockPrice.inputUsdPerMTok,
  bedrockOutputUsdPerMTok: defaultBedrockPrice.outputUsdPerMTok,
  bedrockBatchFactor: defaultBedrockPrice.batchFactor,
  bedrockTokensPerSecondPerRequest: 50,
  bedrockConcurrency: 64,
  gpuUsdPerHour: P5EN_USD_PER_HOUR,
  sglangTokensPerSecond: 2_500,
};

/**
 * Output tokens a verified sample takes on average: question, first-person reasoning, answer and keywords
 * as JSON (SBK), plus a 2-6 turn conversation (CM). Measured outputs vary with the model by about ±40%.
 */
export const EXPECTED_OUTPUT_TOKENS: Record<SampleKind, number> = { SBK: 350, CM: 650 };

export interface RunEstimate {
  readonly slots: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** On demand; `batch_usd` is the same tokens through batch inference (hours to a day of waiting instead). */
  readonly bedrock: { readonly usd: number; readonly hours: number; readonly batch_usd: number };
  readonly sglang: { readonly usd: number; readonly hours: number };
}

export function estimateRun(prompts: readonly { inputTokens: number; kind: SampleKind }[], assumptions: CostAssumptions): RunEstimate {
  let inputTokens = 0;
  let outputTokens = 0;
  for (const prompt of prompts) {
    inputTokens += prompt.inputTokens;
    outputTokens += EXPECTED_OUTPUT_TOKENS[prompt.kind];
  }
  const bedrockHours = outputTokens / (assumptions.bedrockTokensPerSecondPerRequest * assumptions.bedrockConcurrency) / 3600;
  const sglangHours = outputTokens / assumptions.sglangTokensPerSecond / 3600;
  const bedrockUsd = (inputTokens * assumptions.bedrockInputUsdPerMTok + outputTokens * assumptions.bedrockOutputUsdPerMTok) / 1e6;
  return {
    slots: prompts.length,
    inputTokens,
    outputTokens,
    bedrock: { usd: bedrockUsd, hours: bedrockHours, batch_usd: bedrockUsd * assumptions.bedrockBatchFactor },
    sglang: { usd: sglangHours * assumptions.gpuUsdPerHour, hours: sglangHours },
  };
}
