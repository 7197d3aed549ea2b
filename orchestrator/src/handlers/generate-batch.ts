/**
 * GenerateBatch: fill one batch's slots with its strategy's phase, writing each accepted sample to S3 as
 * it is accepted. Every model request is first looked up in the deployment's response cache (the prefix of
 * the outputs bucket the stack names) and every answer is stored there, so no run pays twice for one
 * answer. A batch that resumes (a retry, or a rerun with the same run id) skips the slots it already has
 * and goes on numbering the attempts of the others. Near the Lambda deadline it stops taking slots and
 * fails with BatchIncomplete, which the state machine retries: the next invocation resumes where this one
 * stopped.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { RESPONSE_CACHE_ENV } from '../contract/response-cache.ts';
import { PARTS, RUN_FILES, TEMP_FILES } from '../contract/run-layout.ts';
import type { BatchEvent, BatchOutput, BatchResult } from '../contract/workflow-payloads.ts';
import { BATCH_REQUESTS_IN_FLIGHT } from '../core/run/batch-plan.ts';
import { WORKERS_PER_IN_FLIGHT_REQUEST, type GenerationOutcome } from '../core/run/generation-run.ts';
import { liveCost } from '../core/report/live-cost.ts';
import { DEFAULT_PRICES } from '../core/report/model-prices.ts';
import { BackendUnavailableError, type GenerateResult } from '../core/ports/llm-backend.ts';
import { withBackend, connectRunBackends, rolesFor, type RunBackends } from '../core/run/run-backends.ts';
import { attemptsMade, resumeCounters, existingSamples, SEEDS_READ } from '../core/run/run-pipeline.ts';
import type { Sample } from '../core/verify/sample.ts';
import { RunEventLog } from '../core/report/run-events.ts';
import { strategyByName } from '../core/strategies/registry.ts';
import { BatchPrefetchBackend } from '../llm/bedrock-batch.ts';
import { S3ResponseCache } from '../store/s3-response-cache.ts';
import { lambdaBackendSettings, REQUEST_TIMEOUT_MS } from './lambda-backends.ts';
import { awsClients } from './handler-env.ts';
import { emitRunMetrics, logger } from './observability.ts';
import { outputsBucket, runStore, tempStore, type BatchFile, type WorkflowPlan } from './run-files.ts';

export type { BatchEvent, BatchOutput };

/** How often the requests in flight are recorded for report.html. */
const IN_FLIGHT_SAMPLE_MS = 5_000;

/** Stop taking slots when less than this is left: in-flight requests finish and the result is written. */
export const STOP_MARGIN_MS = REQUEST_TIMEOUT_MS + 60_000;

export class BatchIncompleteError extends Error {
  override readonly name = 'BatchIncomplete';
}

export class BatchBackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailable';
}

export type BatchContext = Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>;

export async function handler(event: BatchEvent, context: BatchContext): Promise<BatchOutput> {
  const { runId, batch: item } = event;
  const log = logger({ handler: 'generate-batch', runId, batchId: item.batchId });
  const { s3 } = awsClients();
  const batch = await tempStore(s3, runId).readJson<BatchFile>(TEMP_FILES.batch(item.batchId));
  if (batch === undefined)
    throw new Error(`batch file ${item.key} is missing: its run's temporary files expired or were deleted; start the run again`);
  const plan = await runStore(s3, runId).readJson<WorkflowPlan>(RUN_FILES.plan);
  if (plan === undefined) throw new Error(`run ${runId} has no ${RUN_FILES.plan}: Plan did not finish for it; start the run again`);
  const strategy = strategyByName(plan.spec.strategy);

  const invocation = `${new Date().toISOString().replace(/[:.]/gu, '-')}-${context.awsRequestId || randomUUID()}`;
  // Each invocation writes its own events objects; Finalize and report.html merge them in time order.
  const store = new RunEventLog(runStore(s3, runId, batch.batchId), { writer: invocation });
  await store.prepareAppends();
  const existing = await existingSamples(store);
  const attemptsBefore = await attemptsMade(store);
  const cachePrefix = process.env[RESPONSE_CACHE_ENV];
  const cache = cachePrefix ? new S3ResponseCache({ client: s3, bucket: outputsBucket(), prefix: cachePrefix }) : undefined;
  const backends = await withBatchAnswers(await connect(plan, batch, cache), s3, runId, batch);
  log.info('connected', {
    backend: batch.backend,
    phase: batch.phase,
    models: backends.all().flatMap((backend) => backend.models?.() ?? []),
  });
  let deadlineHit = false;
  const counters = resumeCounters(batch.slots, existing);
  const stopSampling = store.sampleEvery(() => backends.all().reduce((sum, backend) => sum + backend.inFlight(), 0), IN_FLIGHT_SAMPLE_MS);
  const outcome = await strategy
    .runPhase({
      phase: batch.phase,
      generation: {
        profiles: new Map(batch.profiles.map((profile) => [profile.id, profile])),
        slots: batch.slots,
        store,
        existing,
        concurrency: BATCH_REQUESTS_IN_FLIGHT * WORKERS_PER_IN_FLIGHT_REQUEST,
        maxAttempts: plan.spec.maxAttempts,
        maxTokens: plan.spec.maxTokens,
        temperature: plan.spec.temperature,
        attemptsBefore,
        shouldStop: () => (deadlineHit ||= context.getRemainingTimeInMillis() < STOP_MARGIN_MS),
      },
      counters,
      spec: plan.spec,
      assignment: plan.assignment,
      backend: (role) => backends.backend(role),
      gates: backends.gates,
      seeds: () => readSeeds(s3, runId, batch.seedBatchIds),
    })
    .finally(async () => {
      stopSampling();
      await store.finish();
    });

  const result = batchResult(batch, invocation, outcome, deadlineHit);
  await store.writeJson(`${PARTS.results}${batch.batchId}/${invocation}.json`, result);
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
    // Bedrock's token cost of this invocation (no GPU time: the dashboard prices the fleet's instance-hours).
    BedrockCostUsd: liveCost({ counters: c, usage: store.usage, prices: DEFAULT_PRICES, elapsedSeconds: 0 }).usdSoFar,
  });
  const left = batch.slots.length - c.alreadyDone - c.accepted - outcome.emptySlots.length;
  log.info('batch invocation done', {
    backend: batch.backend,
    slots: batch.slots.length,
    alreadyDone: c.alreadyDone,
    accepted: c.accepted,
    rejected: c.rejected,
    emptySlots: outcome.emptySlots.length,
    left,
    requests: c.requests,
    cacheHits: c.cacheHits,
    // A cache that fails to read or write is bypassed: the batch goes on, but this says why it paid anyway.
    cacheErrors: backends.cacheStats()?.errors ?? 0,
  });
  if (outcome.fatalError !== undefined)
    throw new BatchBackendUnavailableError(`batch ${batch.batchId} on ${batch.backend}: ${outcome.fatalError}`);
  if (left > 0)
    throw new BatchIncompleteError(
      `batch ${batch.batchId}: ${left} of ${batch.slots.length} slots left at the Lambda deadline; a retry resumes from the ${c.alreadyDone + c.accepted} samples written`,
    );
  return { batchId: batch.batchId, accepted: c.alreadyDone + c.accepted, emptySlots: outcome.emptySlots.length, slots: batch.slots.length };
}

/** The batch's backend in its role, the judge when the strategy judges while generating, and the gates' models, each behind the cache. */
async function connect(plan: WorkflowPlan, batch: BatchFile, cache: S3ResponseCache | undefined): Promise<RunBackends> {
  const strategy = strategyByName(plan.spec.strategy);
  try {
    return await connectRunBackends({
      spec: plan.spec,
      roles: rolesFor({ kind: 'batch', backend: batch.backend }, strategy, plan.assignment),
      gates: true,
      settings: { ...lambdaBackendSettings(DEFAULT_PRICES), cache },
    });
  } catch (error) {
    if (error instanceof BackendUnavailableError)
      throw new BatchBackendUnavailableError(`batch ${batch.batchId} (${strategy.name} on ${batch.backend}): ${error.message}`);
    throw error;
  }
}

/**
 * With bedrockBatchInference, the answers batch inference stored for this batch come first; a slot whose
 * answer is missing or fails verification is generated on demand, as `raiden generate --bedrock-batch` does.
 */
async function withBatchAnswers(backends: RunBackends, s3: S3Client, runId: string, batch: BatchFile): Promise<RunBackends> {
  if (batch.backend !== 'bedrock') return backends;
  const answers = await tempStore(s3, runId).readJson<Record<string, GenerateResult>>(TEMP_FILES.batchAnswers(batch.batchId));
  if (answers === undefined) return backends;
  return withBackend(backends, 'bedrock', new BatchPrefetchBackend(new Map(Object.entries(answers)), backends.backend('bedrock')));
}

/** The accepted samples of the run's seed batches, read from their partitions. */
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
    ...(outcome.fatalError !== undefined
      ? { stopped: 'backend' as const, error: outcome.fatalError }
      : deadlineHit
        ? { stopped: 'deadline' as const }
        : {}),
  };
}
