import { filterStrategy } from './filter.ts';
import { iterativeStrategy } from './iterative.ts';
import type { StrategyName } from './names.ts';
import { singleBackendStrategy } from './single-backend.ts';
import type { Strategy } from './strategy.ts';
import { tieredStrategy } from './tiered.ts';

const STRATEGIES: Record<StrategyName, Strategy> = {
  sglang: singleBackendStrategy('sglang'),
  bedrock: singleBackendStrategy('bedrock'),
  tiered: tieredStrategy,
  filter: filterStrategy,
  iterative: iterativeStrategy,
};

export function strategyByName(name: StrategyName): Strategy {
  return STRATEGIES[name];
}
