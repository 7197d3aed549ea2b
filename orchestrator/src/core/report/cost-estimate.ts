import { BEDROCK_PRICES, bedrockPrice, DEFAULT_BEDROCK_MODEL, P5EN_USD_PER_HOUR } from './model-prices.ts';
import type { SampleKind } from '../verify/sample.ts';

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

/** Output tokens of one judge verdict (an integer score and a sentence or two). */
export const JUDGE_OUTPUT_TOKENS = 80;

/** How a strategy multiplies the work of a slot: its candidates, its judge calls, its evaluation afterwards. */
export interface EstimateShape {
  /** Model calls per slot on the slot's backend (filter: k candidates). */
  readonly callsPerSlot: number;
  /** Bedrock judge calls per slot (filter: one per candidate). */
  readonly judgeCallsPerSlot: number;
  /** Bedrock judge calls after generation (iterative's evaluation). */
  readonly evaluationCalls: number;
}

export const PLAIN_ESTIMATE_SHAPE: EstimateShape = { callsPerSlot: 1, judgeCallsPerSlot: 0, evaluationCalls: 0 };

/** One slot as the estimate sees it: its prompt's tokens, its kind, and the backend the strategy gives it. */
export interface SlotWork {
  readonly inputTokens: number;
  readonly kind: SampleKind;
  readonly backend: 'sglang' | 'bedrock';
}

export interface BackendEstimate {
  readonly calls: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly usd: number;
  readonly hours: number;
}

/** What the plan will cost as its strategy runs it, one accepted sample per call (retries not counted). */
export interface RunEstimate {
  readonly slots: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Bedrock's share: its slots, judge and evaluation calls. `batch_usd` is the same through batch inference. */
  readonly bedrock: BackendEstimate & { readonly batch_usd: number };
  /** SGLang's share: GPU hours at the aggregate decode rate, billed by the hour. */
  readonly sglang: BackendEstimate;
  readonly total_usd: number;
  /** For comparison: the same slots, one call each, all on one backend. */
  readonly all_on_bedrock_usd: number;
  readonly all_on_sglang_usd: number;
  readonly shape: EstimateShape;
}

export function estimateRun(
  slots: Iterable<SlotWork>,
  assumptions: CostAssumptions,
  shape: EstimateShape = PLAIN_ESTIMATE_SHAPE,
): RunEstimate {
  const bedrock = { calls: 0, input: 0, output: 0 };
  const sglang = { calls: 0, input: 0, output: 0 };
  let slotInput = 0;
  let slotOutput = 0;
  // Any iterable, so a plan too large to hold as slots is estimated as it is read.
  let slotCount = 0;
  for (const slot of slots) {
    slotCount++;
    const output = EXPECTED_OUTPUT_TOKENS[slot.kind];
    slotInput += slot.inputTokens;
    slotOutput += output;
    const on = slot.backend === 'bedrock' ? bedrock : sglang;
    on.calls += shape.callsPerSlot;
    on.input += slot.inputTokens * shape.callsPerSlot;
    on.output += output * shape.callsPerSlot;
    // A judge reads the profile and one candidate, and writes a short verdict.
    bedrock.calls += shape.judgeCallsPerSlot;
    bedrock.input += (slot.inputTokens + output) * shape.judgeCallsPerSlot;
    bedrock.output += JUDGE_OUTPUT_TOKENS * shape.judgeCallsPerSlot;
  }
  if (slotCount > 0 && shape.evaluationCalls > 0) {
    const evaluations = Math.min(shape.evaluationCalls, slotCount);
    bedrock.calls += evaluations;
    bedrock.input += Math.round(((slotInput + slotOutput) / slotCount) * evaluations);
    bedrock.output += JUDGE_OUTPUT_TOKENS * evaluations;
  }
  const bedrockUsdOf = (input: number, output: number) =>
    (input * assumptions.bedrockInputUsdPerMTok + output * assumptions.bedrockOutputUsdPerMTok) / 1e6;
  const bedrockHoursOf = (output: number) =>
    output / (assumptions.bedrockTokensPerSecondPerRequest * assumptions.bedrockConcurrency) / 3600;
  const sglangHoursOf = (output: number) => output / assumptions.sglangTokensPerSecond / 3600;
  const bedrockUsd = bedrockUsdOf(bedrock.input, bedrock.output);
  const sglangHours = sglangHoursOf(sglang.output);
  const sglangUsd = sglangHours * assumptions.gpuUsdPerHour;
  // Six places (a millionth of a dollar, 3.6 ms): report.json shows 0.02835, not 0.028350000000000004.
  const six = (value: number) => Math.round(value * 1e6) / 1e6;
  return {
    slots: slotCount,
    inputTokens: bedrock.input + sglang.input,
    outputTokens: bedrock.output + sglang.output,
    bedrock: {
      calls: bedrock.calls,
      input_tokens: bedrock.input,
      output_tokens: bedrock.output,
      usd: six(bedrockUsd),
      hours: six(bedrockHoursOf(bedrock.output)),
      batch_usd: six(bedrockUsd * assumptions.bedrockBatchFactor),
    },
    sglang: { calls: sglang.calls, input_tokens: sglang.input, output_tokens: sglang.output, usd: six(sglangUsd), hours: six(sglangHours) },
    total_usd: six(bedrockUsd + sglangUsd),
    all_on_bedrock_usd: six(bedrockUsdOf(slotInput, slotOutput)),
    all_on_sglang_usd: six(sglangHoursOf(slotOutput) * assumptions.gpuUsdPerHour),
    shape,
  };
}
