/** The strategies a run can use; each has its own module in this folder. */
export const STRATEGY_NAMES = ['sglang', 'bedrock', 'tiered', 'filter', 'iterative'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];
