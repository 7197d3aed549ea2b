/**
 * GenerateBatch: fill one batch's slots on its backend, writing each accepted sample to S3 as it is
 * accepted. A batch that resumes (a retry, or a rerun with the same run id) skips the slots it already
 * has. Near the Lambda deadline it stops taking slots and fails with BatchIncomplete, which the state
 * machine retries: the next invocation resumes where this one stopped.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { BATCH_REQUESTS_IN_FLIGHT } from '../core/batch-plan.ts';
import { newCounters, openSlots, WORKERS_PER_IN_FLIGHT_REQUEST, type ExistingSample, type GenerationOutcome } from '../core/generation-run.ts';
import type { Sample } from '../core/sample.ts';
import { runExpandPhase, runSeedPhase } from '../core/strategies/iterative.ts';
import { strategyByName } from '../core/strategies/registry.ts';
import type { GenerationBase, StrategyBackends, StrategyContext } from '../core/strategies/strategy.ts';
import { BackendUnavailableError, type LlmBackend } from '../core/ports/llm-backend.ts';
import { SglangBackend } from '../llm/sglang-backend.ts';
import { BACKEND_RETRY, bedrockModel, REQUEST_TIMEOUT_MS } from './bedrock-models.ts';
import { discoverEndpoints } from './fleet.ts';
import { awsClients, ENV, fleetServers, requiredEnv } from './handler-env.ts';
import { emitRunMetrics, logger, type Logger } from './observability.ts';
import { RESULTS_PREFIX, runStore, tempStore, type BatchEvent, type BatchFile, type BatchResult } from './run-files.ts';
import { sglangApiKey } from './sglang-api-key.ts';

/** Stop taking slots when less than this is left: in-flight requests finish and the result is written. */
export const STOP_MARGIN_MS = REQUEST_TIMEOUT_MS + 60_000;

export class BatchIncompleteError extends Error {
  override readonly name = 'BatchIncomplete';
}

export class BatchBackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailable';
}

export type BatchContext = Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>;

export interface BatchOutput {
  readonly batchId: string;
  readonly accepted: number;
  readonly emptySlots: number;
  readonly slots: number;
}

export async function handler(event: BatchEvent, context: BatchContext): Promise<BatchOutput> {
  const { runId, batch: item } = event;
  const log = logger({ handler: 'generate-batch', runId, batchId: item.batchId });
  const { s3 } = awsClients();
  const batch = await tempStore(s3, runId).readJson<BatchFile>(`batches/${item.batchId}.json`);
  if (batch === undefined) throw new Error(`batch file ${item.key} is missing: its run's temporary files expired or were deleted; start the run again`);

  const store = runStore(s3, runId, batch.batchId);
  const existing: ExistingSample[] = [];
  for await (const sample of store.readSamples()) existing.push({ id: sample.id, question: sample.question });
  const backends = await connectBackends(batch, log);
  const invocation = `${new Date().toISOString().replace(/[:.]/gu, '-')}-${context.awsRequestId || randomUUID()}`;
  let deadlineHit = false;
  const generation: GenerationBase = {
    profiles: new Map(batch.profiles.map((profile) => [profile.id, profile])),
    slots: batch.slots,
    store,
    existing,
    concurrency: BATCH_REQUESTS_IN_FLIGHT * WORKERS_PER_IN_FLIGHT_REQUEST,
    maxAttempts: batch.settings.maxAttempts,
    maxTokens: batch.settings.maxTokens,
    temperature: batch.settings.temperature,
    shouldStop: () => (deadlineHit ||= context.getRemainingTimeInMillis() < STOP_MARGIN_MS),
  };
  const strategyContext: StrategyContext = {
    generation,
    counters: newCounters(batch.slots.length, batch.slots.length - openSlots(generation).length),
    backends,
    gates: [],
    settings: {
      candidates: batch.settings.candidates,
      minScore: batch.settings.minScore,
      // tiered: a batch holds only validation profiles (on Bedrock) or only training profiles.
      validationProfiles: new Set(batch.backend === 'bedrock' ? batch.slots.map((slot) => slot.profileId) : []),
      seedProfiles: new Set(batch.phase === 'seed' ? batch.slots.map((slot) => slot.profileId) : []),
      // iterative: Finalize evaluates the run's output as a whole.
      evaluateCount: 0,
      seed: 0,
    },
    readSamples: () => store.readSamples(),
  };
  // The strategy's own code fills the batch: iterative one phase per batch, every other strategy whole.
  const outcome =
    batch.phase === 'seed'
      ? await runSeedPhase(strategyContext, batch.slots)
      : batch.phase === 'expand'
        ? await runExpandPhase(strategyContext, batch.slots, await readSeeds(s3, runId, batch.seedBatchIds ?? []))
        : await strategyByName(batch.settings.strategy).run(strategyContext);

  const result = batchResult(batch, invocation, outcome, deadlineHit);
  await store.writeJson(`${RESULTS_PREFIX}${batch.batchId}/${invocation}.json`, result);
  const c = outcome.counters;
  emitRunMetrics(runId, {
    SamplesAccepted: c.accepted,
    SamplesRejected: c.rejected,
    EmptySlots: outcome.emptySlots.length,
    Requests: c.requests,
    TransportFailures: c.transportFailures,
    BackendErrors: outcome.fatalError !== undefined ? 1 : 0,
    InputTokens: c.inputTokens,
    OutputTokens: c.outputTokens,
  });
  const left = batch.slots.length - c.alreadyDone - c.accepted - outcome.emptySlots.length;
  log.info('batch invocation done', { backend: batch.backend, slots: batch.slots.length, alreadyDone: c.alreadyDone, accepted: c.accepted, rejected: c.rejected, emptySlots: outcome.emptySlots.length, left, requests: c.requests });
  if (outcome.fatalError !== undefined) throw new BatchBackendUnavailableError(`batch ${batch.batchId} on ${batch.backend}: ${outcome.fatalError}`);
  if (left > 0) throw new BatchIncompleteError(`batch ${batch.batchId}: ${left} of ${batch.slots.length} slots left at the Lambda deadline; a retry resumes from the ${c.alreadyDone + c.accepted} samples written`);
  return { batchId: batch.batchId, accepted: c.alreadyDone + c.accepted, emptySlots: outcome.emptySlots.length, slots: batch.slots.length };
}

/**
 * The batch's backend in the role its strategy asks for, plus the Bedrock judge for filter. A batch runs on
 * one backend, so tiered gets it in both roles: its tier settings send every slot of the batch there.
 */
async function connectBackends(batch: BatchFile, log: Logger): Promise<StrategyBackends> {
  const main = batch.backend === 'bedrock' ? bedrockModel(batch.settings.bedrockModel) : await connectFleet(batch, log);
  return {
    ...(batch.settings.strategy === 'tiered' ? { sglang: main, bedrock: main } : { [batch.backend]: main }),
    ...(batch.settings.strategy === 'filter' ? { judge: bedrockModel(batch.settings.judgeModel) } : {}),
  };
}

async function connectFleet(batch: BatchFile, log: Logger): Promise<LlmBackend> {
  const { autoScaling, ec2 } = awsClients();
  const fleet = await discoverEndpoints(autoScaling, ec2, requiredEnv(ENV.autoScalingGroup), fleetServers());
  if (fleet.endpoints.length === 0) {
    throw new BatchBackendUnavailableError(`batch ${batch.batchId}: the fleet has no instance in service (${fleet.launched} launched); it may have been scaled in by its idle watchdog or by hand`);
  }
  try {
    const backend = await SglangBackend.connect({ endpoints: fleet.endpoints, model: batch.settings.model, apiKey: await sglangApiKey(), requestTimeoutMs: REQUEST_TIMEOUT_MS, retry: BACKEND_RETRY, maxInFlight: BATCH_REQUESTS_IN_FLIGHT });
    log.info('connected to the fleet', { endpoints: fleet.endpoints, models: backend.models() });
    return backend;
  } catch (error) {
    if (error instanceof BackendUnavailableError) throw new BatchBackendUnavailableError(`batch ${batch.batchId}: ${error.message}`);
    throw error;
  }
}

/** Few-shot seeds need only a handful of examples per kind and language: read no more than this. */
const SEEDS_READ = 64;

/** iterative: the accepted samples of the run's seed batches, read from their partitions. */
async function readSeeds(s3: S3Client, runId: string, seedBatchIds: readonly string[]): Promise<Sample[]> {
  const seeds: Sample[] = [];
  for (const id of seedBatchIds) {
    for await (const sample of runStore(s3, runId, id).readSamples()) {
      seeds.push(sample);
      if (seeds.length >= SEEDS_READ) return seeds;
    }
  }
  return seeds;
}

function batchResult(batch: BatchFile, invocation: string, outcome: GenerationOutcome, deadlineHit: boolean): BatchResult {
  const c = outcome.counters;
  return {
    batchId: batch.batchId,
    executionArn: batch.executionArn,
    backend: batch.backend,
    invocation,
    finishedAt: new Date().toISOString(),
    slots: batch.slots.length,
    alreadyDone: c.alreadyDone,
    accepted: c.accepted,
    rejected: c.rejected,
    requests: c.requests,
    transportFailures: c.transportFailures,
    inputTokens: c.inputTokens,
    outputTokens: c.outputTokens,
    rejectsByReason: c.rejectsByReason,
    emptySlots: outcome.emptySlots,
    ...(outcome.fatalError !== undefined ? { stopped: 'backend' as const, error: outcome.fatalError } : deadlineHit ? { stopped: 'deadline' as const } : {}),
  };
}
