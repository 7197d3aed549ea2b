/**
 * Finalize: turn the run's per-sample objects into the dataset contract of `raiden generate`
 * (samples.jsonl, rejects.jsonl, train.json, validation.json, dataset_stats.json, report.json) under
 * `runs/<run id>/`, with the counters of every batch invocation summed into the report.
 */
import { BATCH_REQUESTS_IN_FLIGHT, batchId } from '../core/batch-plan.ts';
import { finalizeRun } from '../core/finalize-run.ts';
import { newCounters, type EmptySlot, type GenerationCounters } from '../core/generation-run.ts';
import { DEFAULT_PRICES } from '../core/model-prices.ts';
import { buildUsageLedger, costReport } from '../core/run-cost.ts';
import { buildReport } from '../core/run-report.ts';
import type { Sample } from '../core/sample.ts';
import { EVALUATION_FILE } from '../core/sample-evaluation.ts';
import { evaluateOutput } from '../core/strategies/iterative.ts';
import type { RunStore } from '../core/ports/run-store.ts';
import { bedrockModel } from './bedrock-models.ts';
import { awsClients } from './handler-env.ts';
import { logger } from './observability.ts';
import { outputsBucket, PLAN_FILE, RESULTS_PREFIX, runStore, type BatchResult, type RunPlan } from './run-files.ts';

export interface FinalizeEvent {
  readonly runId: string;
}

export interface FinalizeOutput {
  readonly runId: string;
  readonly status: string;
  readonly accepted: number;
  readonly slots: number;
  readonly emptySlots: number;
  readonly failedBatches: number;
  readonly report: string;
}

export async function handler(event: FinalizeEvent): Promise<FinalizeOutput> {
  const log = logger({ handler: 'finalize', runId: event.runId });
  const parts = runStore(awsClients().s3, event.runId);
  const plan = await parts.readJson<RunPlan>(PLAN_FILE);
  if (plan === undefined) throw new Error(`run ${event.runId} has no ${PLAN_FILE}: Plan did not finish for it`);

  const latest = new Map<string, BatchResult>();
  const counters = newCounters(plan.slots.total, 0);
  for await (const result of parts.listJson<BatchResult>(RESULTS_PREFIX)) {
    // A rerun with the same run id reports what this execution did; earlier samples count as already done.
    if (result.executionArn !== plan.executionArn) continue;
    // Keys sort by batch, then by invocation time: the last one seen per batch is its latest.
    if (!latest.has(result.batchId)) counters.alreadyDone += result.alreadyDone;
    latest.set(result.batchId, result);
    addCounters(counters, result);
  }
  const emptySlots: EmptySlot[] = [...latest.values()].flatMap((result) => result.emptySlots);
  counters.emptySlots = emptySlots.length;
  const finished = [...latest.values()].filter((result) => result.stopped === undefined);
  const failedBatches = plan.batches.total - finished.length;

  const store = await parts.consolidate();
  const dataset = await finalizeRun(store, { profileIds: plan.profileIds, validationRatio: plan.input.validationRatio, seed: plan.input.seed });
  const evaluation = plan.input.strategy === 'iterative' ? await evaluateExpansion(store, plan, counters) : undefined;
  if (evaluation !== undefined) await store.writeLines(EVALUATION_FILE, evaluation.records.map((record) => JSON.stringify(record)));
  const report = buildReport({
    runId: plan.runId,
    startedAt: new Date(plan.startedAt),
    finishedAt: new Date(),
    input: plan.profiles,
    plan: { profiles: plan.profileIds.length, slots: plan.slots.total, sbk: plan.slots.sbk, cm: plan.slots.cm },
    counters,
    emptySlots,
    dataset,
    estimate: plan.estimate,
  });
  const cost = costReport(await buildUsageLedger(store.readSamples(), store.readRejects(), evaluation?.records), DEFAULT_PRICES, {
    wallSeconds: report.wall_time_s,
    sglangInstances: plan.batches.sglang > 0 ? plan.input.instances : 0,
  });
  await store.writeJson('report.json', {
    ...report,
    strategy: {
      name: plan.input.strategy,
      models: Object.keys(dataset.usageByModel),
      ...(plan.input.strategy === 'filter' ? { candidates: plan.input.candidates, min_score: plan.input.minScore, judge_model: plan.input.judgeModel ?? plan.input.bedrockModel } : {}),
      ...(plan.input.strategy === 'iterative' ? { seed_profiles: plan.seedProfiles, seed_batches: plan.batches.seed } : {}),
    },
    backends: cost.by_backend,
    cost: { prices_as_of: cost.prices_as_of, by_model: cost.by_model, sglang: cost.sglang, total_usd: cost.total_usd },
    ...(evaluation !== undefined ? { evaluation: evaluation.summary } : {}),
    workflow: {
      execution_arn: plan.executionArn,
      input: plan.input,
      batches: {
        total: plan.batches.total,
        on_sglang: plan.batches.sglang,
        on_bedrock: plan.batches.bedrock,
        seed: plan.batches.seed,
        finished: finished.length,
        failed: failedBatches,
        unfinished_batch_ids: unfinishedIds(plan.batches.total, latest),
      },
    },
  });
  const uri = `s3://${outputsBucket()}/runs/${plan.runId}/report.json`;
  log.info('run finalized', { status: report.status, accepted: report.samples.accepted, slots: plan.slots.total, emptySlots: emptySlots.length, failedBatches, report: uri });
  return { runId: plan.runId, status: report.status, accepted: report.samples.accepted, slots: plan.slots.total, emptySlots: emptySlots.length, failedBatches, report: uri };
}

/** iterative: the judge scores a seeded choice of the expansion phase's samples (the seeds are Bedrock's own). */
async function evaluateExpansion(store: RunStore, plan: RunPlan, counters: GenerationCounters) {
  const output: Sample[] = [];
  for await (const sample of store.readSamples()) if (sample.metadata.phase === 'expand') output.push(sample);
  const { input } = plan;
  const settings = { evaluateCount: input.evaluateSamples, minScore: input.minScore, seed: input.seed, concurrency: BATCH_REQUESTS_IN_FLIGHT };
  return evaluateOutput(output, bedrockModel(input.judgeModel ?? input.bedrockModel), settings, counters);
}

function addCounters(counters: GenerationCounters, result: BatchResult): void {
  counters.accepted += result.accepted;
  counters.rejected += result.rejected;
  counters.requests += result.requests;
  counters.transportFailures += result.transportFailures;
  counters.inputTokens += result.inputTokens;
  counters.outputTokens += result.outputTokens;
  for (const [reason, count] of Object.entries(result.rejectsByReason)) counters.rejectsByReason[reason] = (counters.rejectsByReason[reason] ?? 0) + count;
}

/** Batch ids (b00000...) with no finished invocation: failed for good, or never run. */
function unfinishedIds(total: number, latest: ReadonlyMap<string, BatchResult>): string[] {
  const ids: string[] = [];
  for (let index = 0; index < total; index++) {
    const id = batchId(index);
    const result = latest.get(id);
    if (result === undefined || result.stopped !== undefined) ids.push(id);
  }
  return ids;
}
