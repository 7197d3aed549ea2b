import type { SampleKind } from './sample.ts';

/** Prices and speeds the estimate rests on; every one is shown next to the estimate and overridable by a flag. */
export interface CostAssumptions {
  /** Claude Sonnet 4.5 on Bedrock, on-demand, us-east-1 (USD per million tokens, as of 2026). */
  readonly bedrockInputUsdPerMTok: number;
  readonly bedrockOutputUsdPerMTok: number;
  /** Output tokens per second one Bedrock request streams at. */
  readonly bedrockTokensPerSecondPerRequest: number;
  readonly bedrockConcurrency: number;
  /** p5en.48xlarge on-demand in us-east-1 after the mid-2025 price cut (USD per hour). */
  readonly gpuUsdPerHour: number;
  /** Aggregate output tokens per second of the whole p5en (all servers together). */
  readonly sglangTokensPerSecond: number;
}

export const DEFAULT_COST_ASSUMPTIONS: CostAssumptions = {
  bedrockInputUsdPerMTok: 3,
  bedrockOutputUsdPerMTok: 15,
  bedrockTokensPerSecondPerRequest: 50,
  bedrockConcurrency: 64,
  gpuUsdPerHour: 63,
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
  readonly bedrock: { readonly usd: number; readonly hours: number };
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
  return {
    slots: prompts.length,
    inputTokens,
    outputTokens,
    bedrock: {
      usd: (inputTokens * assumptions.bedrockInputUsdPerMTok + outputTokens * assumptions.bedrockOutputUsdPerMTok) / 1e6,
      hours: bedrockHours,
    },
    sglang: { usd: sglangHours * assumptions.gpuUsdPerHour, hours: sglangHours },
  };
}
