import { chooseSeedProfiles, chooseValidationProfiles, countOf } from '../core/dataset-split.ts';
import type { GenerationCounters } from '../core/generation-run.ts';
import { buildUsageLedger, costReport, type CostReport } from '../core/run-cost.ts';
import { EVALUATION_FILE, type EvaluationRecord, type EvaluationSummary } from '../core/sample-evaluation.ts';
import type { GenerationBase, StrategyName, StrategyOutcome } from '../core/strategies/strategy.ts';
import type { RunStore } from '../core/ports/run-store.ts';
import { loadSeedData, type ConnectedRun, type StrategyFlags } from './strategy-setup.ts';


/** Runs of other strategies get their own default directory, so they never resume an SGLang-only run. */
export function strategyRunId(runId: string, strategy: StrategyName): string {
  return strategy === 'sglang' ? runId : `${runId}-${strategy}`;
}

/** `--validation-profiles` (a count or a share) overrides `--validation-ratio`; tiered sends exactly these to Bedrock. */
export function strategyValidationRatio(flags: StrategyFlags, validationRatio: number, profiles: number): number {
  if (flags.validationProfiles === undefined || profiles === 0) return validationRatio;
  return countOf(flags.validationProfiles, profiles) / profiles;
}

export interface StrategyRunInput {
  readonly run: ConnectedRun;
  readonly flags: StrategyFlags;
  readonly generation: GenerationBase;
  readonly counters: GenerationCounters;
  readonly profileIds: readonly string[];
  readonly validationRatio: number;
  readonly seed: number;
  readonly store: RunStore;
}

export interface StrategyRunOutcome extends StrategyOutcome {
  /** report.json sections this strategy adds: strategy, counts and cost per backend and model, evaluation. */
  reportSections(wallSeconds: number): Promise<StrategyReportSections>;
}

export interface StrategyReportSections {
  readonly strategy: Record<string, unknown> & { readonly name: StrategyName };
  readonly backends: CostReport['by_backend'];
  readonly cost: Omit<CostReport, 'by_backend'>;
  readonly evaluation?: EvaluationSummary;
}

/** Rows for the end-of-run summary: samples, review calls and cost per backend. */
export function backendSummaryRows(sections: StrategyReportSections): (string | number)[][] {
  const rows: (string | number)[][] = [['backend', 'samples', 'rejects', 'review calls', 'cost (USD)']];
  for (const [backend, row] of Object.entries(sections.backends)) rows.push([backend, row.samples, row.rejects, row.review_calls, row.usd === null ? 'price unknown' : row.usd]);
  if (sections.evaluation !== undefined && sections.evaluation.pass_rate !== null) {
    rows.push([`evaluation by ${sections.evaluation.judge_model}`, `${sections.evaluation.passed}/${sections.evaluation.judged} passed`, '', '', `pass rate ${(sections.evaluation.pass_rate * 100).toFixed(1)}%`]);
  }
  return rows;
}

export async function runStrategy(input: StrategyRunInput): Promise<StrategyRunOutcome> {
  const { run, flags, store } = input;
  const seedData = run.strategy.name === 'iterative' && flags.seedData !== undefined ? await loadSeedData(flags.seedData) : undefined;
  // With seeds from an earlier run, Bedrock writes none: every profile is expanded by SGLang.
  const seedCount = seedData !== undefined ? 0 : Math.max(1, countOf(flags.seedProfiles, input.profileIds.length));
  const settings = {
    candidates: flags.candidates,
    minScore: flags.minScore,
    validationProfiles: chooseValidationProfiles(input.profileIds, input.validationRatio, input.seed),
    seedProfiles: run.strategy.name === 'iterative' ? chooseSeedProfiles(input.profileIds, seedCount, input.seed) : new Set<string>(),
    seedData,
    evaluateCount: flags.evaluateSamples,
    seed: input.seed,
  };
  const outcome = await run.strategy.run({
    generation: input.generation,
    counters: input.counters,
    backends: run.backends,
    gates: run.gates,
    settings,
    readSamples: () => store.readSamples(),
  });
  const evaluations: readonly EvaluationRecord[] = outcome.evaluation?.records ?? [];
  if (outcome.evaluation !== undefined) await store.writeLines(EVALUATION_FILE, evaluations.map((record) => JSON.stringify(record)));
  return {
    ...outcome,
    async reportSections(wallSeconds) {
      const ledger = await buildUsageLedger(store.readSamples(), store.readRejects(), evaluations);
      const cost = costReport(ledger, run.prices, { wallSeconds });
      return {
        strategy: {
          name: run.strategy.name as StrategyName,
          description: run.strategy.description,
          models: run.models(),
          ...(run.strategy.name === 'tiered' ? { validation_profiles_on_bedrock: settings.validationProfiles.size } : {}),
          ...(run.strategy.name === 'filter' ? { candidates: flags.candidates, min_score: flags.minScore } : {}),
          ...(run.strategy.name === 'iterative'
            ? { seed_profiles: settings.seedProfiles.size, seed_data: flags.seedData ?? null, seeds_from_file: seedData?.length ?? 0 }
            : {}),
          gates: run.gates.map((gate) => gate.name),
        },
        backends: cost.by_backend,
        cost: { prices_as_of: cost.prices_as_of, by_model: cost.by_model, sglang: cost.sglang, total_usd: cost.total_usd },
        ...(outcome.evaluation !== undefined ? { evaluation: outcome.evaluation.summary } : {}),
      };
    },
  };
}
