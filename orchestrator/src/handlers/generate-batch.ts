/**
 * GenerateBatch: fill one batch's slots on its backend, writing each accepted sample to S3 as it is
 * accepted. A batch that resumes (a retry, or a rerun with the same run id) skips the slots it already
 * has. Near the Lambda deadline it stops taking slots and fails with BatchIncomplete, which the state
 * machine retries: the next invocation resumes where this one stopped.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { BATCH_REQUESTS_IN_FLIGHT } from '../core/batch-plan.ts';
import { runGeneration, type ExistingSample, type GenerationOutcome } from '../core/generation-run.ts';
import { BedrockBackend } from '../llm/bedrock-backend.ts';
import { BackendUnavailableError, type LlmBackend } from '../llm/llm-backend.ts';
import { SglangBackend } from '../llm/sglang-backend.ts';
import { discoverEndpoints } from './fleet.ts';
import { awsClients, ENV, fleetServers, requiredEnv } from './handler-env.ts';
import { emitRunMetrics, logger, type Logger } from './observability.ts';
import { RESULTS_PREFIX, runStore, tempStore, type BatchEvent, type BatchFile, type BatchResult } from './run-files.ts';
import { sglangApiKey } from './sglang-api-key.ts';

/** One HTTP request may take this long; the stop margin below leaves room for the last ones. */
const REQUEST_TIMEOUT_MS = 120_000;
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
  const backend = await connectBackend(batch, log);
  const invocation = `${new Date().toISOString().replace(/[:.]/gu, '-')}-${context.awsRequestId || randomUUID()}`;
  let deadlineHit = false;
  const outcome = await runGeneration({
    profiles: new Map(batch.profiles.map((profile) => [profile.id, profile])),
    slots: batch.slots,
    backend,
    store,
    existing,
    // Twice the requests in flight, so workers that verify or write never leave a request slot idle.
    concurrency: BATCH_REQUESTS_IN_FLIGHT * 2,
    maxAttempts: batch.settings.maxAttempts,
    maxTokens: batch.settings.maxTokens,
    temperature: batch.settings.temperature,
    strategy: batch.settings.strategy,
    ...(batch.settings.strategy === 'tiered' ? { metadataFor: () => ({ tier: batch.backend === 'bedrock' ? 'validation' : 'train' }) } : {}),
    shouldStop: () => (deadlineHit ||= context.getRemainingTimeInMillis() < STOP_MARGIN_MS),
  });

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

async function connectBackend(batch: BatchFile, log: Logger): Promise<LlmBackend> {
  const retry = { maxRetries: 4, baseDelayMs: 500, maxDelayMs: 10_000 };
  if (batch.backend === 'bedrock') {
    return new BedrockBackend({ modelId: batch.settings.bedrockModel, maxConcurrency: BATCH_REQUESTS_IN_FLIGHT, requestTimeoutMs: REQUEST_TIMEOUT_MS, retry });
  }
  const { autoScaling, ec2 } = awsClients();
  const fleet = await discoverEndpoints(autoScaling, ec2, requiredEnv(ENV.autoScalingGroup), fleetServers());
  if (fleet.endpoints.length === 0) {
    throw new BatchBackendUnavailableError(`batch ${batch.batchId}: the fleet has no instance in service (${fleet.launched} launched); it may have been scaled in by its idle watchdog or by hand`);
  }
  try {
    const backend = await SglangBackend.connect({ endpoints: fleet.endpoints, model: batch.settings.model, apiKey: await sglangApiKey(), requestTimeoutMs: REQUEST_TIMEOUT_MS, retry, maxInFlight: BATCH_REQUESTS_IN_FLIGHT });
    log.info('connected to the fleet', { endpoints: fleet.endpoints, models: backend.models() });
    return backend;
  } catch (error) {
    if (error instanceof BackendUnavailableError) throw new BatchBackendUnavailableError(`batch ${batch.batchId}: ${error.message}`);
    throw error;
  }
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
