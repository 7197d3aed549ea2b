/**
 * Cost while a run goes: what this invocation has cost so far and what it will have cost when every
 * planned slot is finished, if the pace measured so far holds. Priced like report.json's cost: Bedrock by
 * tokens from the price table, SGLang by GPU time (billed while the run goes, busy or not).
 */
import type { GenerationCounters } from '../run/generation-run.ts';
import { bedrockPrice, tokenCostUsd, type Prices } from './model-prices.ts';
import type { UsageLedger } from './run-cost.ts';

export interface LiveCostInput {
  /** Slots planned and done before this invocation, and this invocation's accepted and given-up slots. */
  readonly counters: Pick<GenerationCounters, 'totalSlots' | 'alreadyDone' | 'accepted' | 'emptySlots'>;
  /** Tokens per backend and model this invocation used so far (RunEventLog.usage). */
  readonly usage: UsageLedger;
  readonly prices: Prices;
  readonly elapsedSeconds: number;
  /** GPU instances billed while SGLang serves the run. @default 1 */
  readonly sglangInstances?: number;
}

export interface LiveCost {
  readonly usdSoFar: number;
  /** Once every planned slot is finished at the measured pace; undefined until a slot has finished. */
  readonly projectedUsd: number | undefined;
  /** `backend:model` used without a price in the table: their tokens are missing from both amounts. */
  readonly unpriced: readonly string[];
}

export function liveCost(input: LiveCostInput): LiveCost {
  let usd = 0;
  let onSglang = false;
  const unpriced: string[] = [];
  for (const row of Object.values(input.usage)) {
    if (row.backend === 'bedrock' || row.backend === 'bedrock-batch') {
      const price = bedrockPrice(row.model, input.prices.bedrock);
      if (price === undefined) unpriced.push(`${row.backend}:${row.model}`);
      else usd += tokenCostUsd(row, price, { batch: row.backend === 'bedrock-batch' });
    } else if (row.backend === 'sglang') {
      onSglang = true;
    }
  }
  if (onSglang) usd += (input.elapsedSeconds / 3600) * (input.sglangInstances ?? 1) * input.prices.gpuUsdPerHour;
  const c = input.counters;
  const finished = c.accepted + c.emptySlots;
  const left = Math.max(0, c.totalSlots - c.alreadyDone - finished);
  // Tokens and GPU time both grow with the slots finished, so the measured cost per slot carries to the rest.
  return { usdSoFar: usd, projectedUsd: finished === 0 ? undefined : (usd * (finished + left)) / finished, unpriced };
}
