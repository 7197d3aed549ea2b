import type { LlmBackend } from '../ports/llm-backend.ts';
import type { ProfileShare } from '../dataset-split.ts';
import type { GenerationCounters, GenerationOptions, GenerationOutcome } from '../generation-run.ts';
import { DEFAULT_MIN_SCORE } from '../judge.ts';
import type { QualityGate } from '../quality-gates.ts';
import type { EvaluationRecord, EvaluationSummary } from '../sample-evaluation.ts';
import type { Sample } from '../sample.ts';

export const STRATEGY_NAMES = ['sglang', 'bedrock', 'tiered', 'filter', 'iterative'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Defaults of the strategy settings, shared by `raiden generate` and the workflow input. */
export const STRATEGY_DEFAULTS = {
  /** filter: SGLang candidates per slot. */
  candidates: 3,
  /** filter and evaluation: lowest judge score that passes. */
  minScore: DEFAULT_MIN_SCORE,
  /** iterative: profiles Bedrock writes seeds for (a share of the profiles, at least one). */
  seedProfiles: { share: 0.1 } as ProfileShare,
  /** iterative: SGLang samples the judge evaluates. */
  evaluateSamples: 50,
} as const;

/** The backends a run has connected, by role. A strategy says which it needs before any is connected. */
export interface StrategyBackends {
  readonly sglang?: LlmBackend | undefined;
  readonly bedrock?: LlmBackend | undefined;
  /** Judges candidates (filter) and evaluates output (iterative); a Bedrock model. */
  readonly judge?: LlmBackend | undefined;
}

export interface StrategyNeeds {
  readonly sglang: boolean;
  readonly bedrock: boolean;
  readonly judge: boolean;
}

export interface StrategySettings {
  /** filter: SGLang calls per slot and attempt. */
  readonly candidates: number;
  /** filter and evaluation: lowest judge score that passes (1-10). */
  readonly minScore: number;
  /** tiered: the profiles generated on Bedrock (the validation split). */
  readonly validationProfiles: ReadonlySet<string>;
  /** iterative: profiles Bedrock writes seeds for (empty when seeds come from --seed-data). */
  readonly seedProfiles: ReadonlySet<string>;
  /** iterative: seeds from an earlier run, used as few-shot examples instead of writing new ones. */
  readonly seedData?: readonly Sample[] | undefined;
  /** iterative: SGLang samples the judge evaluates after generation. */
  readonly evaluateCount: number;
  readonly seed: number;
}

/** Everything runGeneration needs except the backend and the strategy name, which the strategy decides. */
export type GenerationBase = Omit<GenerationOptions, 'backend' | 'strategy'>;

export interface StrategyContext {
  readonly generation: GenerationBase;
  readonly counters: GenerationCounters;
  readonly backends: StrategyBackends;
  /** Quality gates every kept sample must pass, whatever the strategy. */
  readonly gates: readonly QualityGate[];
  readonly settings: StrategySettings;
  /** Accepted samples in the run directory (seeds written by an earlier invocation, samples to evaluate). */
  readonly readSamples: () => AsyncIterable<Sample>;
}

export interface StrategyOutcome extends GenerationOutcome {
  /** iterative: the judge's verdicts on a sample of the output. */
  readonly evaluation?: { readonly summary: EvaluationSummary; readonly records: readonly EvaluationRecord[] };
}

export interface Strategy {
  readonly name: StrategyName;
  readonly description: string;
  readonly needs: StrategyNeeds;
  run(context: StrategyContext): Promise<StrategyOutcome>;
}

export function requireBackend(backends: StrategyBackends, role: keyof StrategyBackends, strategy: string): LlmBackend {
  const backend = backends[role];
  if (backend === undefined) throw new Error(`strategy ${strategy} needs the ${role} backend, which was not connected`);
  return backend;
}
