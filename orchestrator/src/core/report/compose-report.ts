/**
 * report.json, composed the same way by `raiden generate` and by Finalize: the run's counts and
 * estimate, the strategy's section, cost per backend and model, and the evaluation when there is one.
 * Front doors may add a section of their own (the workflow's batches, the Bedrock batch jobs).
 */
import type { DatasetSummary } from '../run/finalize-run.ts';
import type { EmptySlot, GenerationCounters } from '../run/generation-run.ts';
import type { Prices } from './model-prices.ts';
import type { RunPlan } from '../run/prepare-run.ts';
import type { RunHistory } from './run-events.ts';
import { cacheSavingsReport, costReport, type CacheLedger, type UsageLedger } from './run-cost.ts';
import { buildReport } from './run-report.ts';
import { strategyByName } from '../strategies/registry.ts';
import type { Evaluation } from '../strategies/strategy.ts';

export interface ReportParts {
  readonly plan: RunPlan;
  readonly finishedAt: Date;
  readonly counters: GenerationCounters;
  readonly emptySlots: readonly EmptySlot[];
  readonly dataset: DatasetSummary;
  readonly ledger: UsageLedger;
  /** Answers the response cache gave, by model (buildUsageLedger fills it next to the ledger). */
  readonly cached: CacheLedger;
  readonly prices: Prices;
  /** GPU instances billed while the run used SGLang (0 when it did not). */
  readonly sglangInstances: number;
  readonly evaluation?: Evaluation | undefined;
  readonly stoppedReason?: string | undefined;
  /** The run over all its invocations (runHistory of its events); GPU time bills for its running time. */
  readonly history?: RunHistory | undefined;
}

/** The quality gates a spec turns on, by name. */
export function gateNames(spec: RunPlan['spec']): string[] {
  return [
    ...(spec.keywordAgreementModels.length > 0 ? ['keyword_agreement'] : []),
    ...(spec.difficultyStudentModel !== undefined ? ['difficulty'] : []),
  ];
}

export function composeReport(parts: ReportParts) {
  const { plan } = parts;
  const report = buildReport({
    runId: plan.runId,
    startedAt: new Date(plan.startedAt),
    finishedAt: parts.finishedAt,
    input: plan.input,
    plan: { profiles: plan.profileIds.length, slots: plan.slots.total, sbk: plan.slots.sbk, cm: plan.slots.cm },
    counters: parts.counters,
    emptySlots: parts.emptySlots,
    dataset: parts.dataset,
    estimate: plan.estimate,
    stoppedReason: parts.stoppedReason,
    history: parts.history,
    runTokens: ledgerTokens(parts.ledger),
  });
  const cost = costReport(parts.ledger, parts.prices, {
    wallSeconds: report.run_time_s,
    sglangInstances: parts.sglangInstances,
    invocations: report.invocations,
  });
  const strategy = strategyByName(plan.spec.strategy);
  return {
    ...report,
    strategy: {
      name: strategy.name,
      description: strategy.description,
      models: Object.keys(parts.ledger).sort(),
      ...strategy.reportSection(plan.spec, plan.assignment),
      gates: gateNames(plan.spec),
    },
    backends: cost.by_backend,
    cost: { prices_as_of: cost.prices_as_of, by_model: cost.by_model, sglang: cost.sglang, total_usd: cost.total_usd },
    cache: cacheSavingsReport(parts.cached, parts.prices),
    ...(parts.evaluation !== undefined ? { evaluation: parts.evaluation.summary } : {}),
  };
}

export type ComposedReport = ReturnType<typeof composeReport>;

/** Input and output tokens the ledger holds (answers from the response cache are not in it: they were not paid). */
function ledgerTokens(ledger: UsageLedger): { input: number; output: number } {
  let input = 0;
  let output = 0;
  for (const row of Object.values(ledger)) {
    input += row.input_tokens + row.cache_read_input_tokens + row.cache_write_input_tokens;
    output += row.output_tokens;
  }
  return { input, output };
}
