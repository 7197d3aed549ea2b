/**
 * Plan: validate the run input, read the profiles, cut the slots into batches, and write the batch files,
 * the manifest the Distributed Map reads, and plan.json (with the estimate) to S3.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { BATCH_REQUESTS_IN_FLIGHT, manifestLines, mapConcurrency, planBatches, slotPromptTokens, type Batch, type ManifestItem } from '../core/batch-plan.ts';
import { DEFAULT_COST_ASSUMPTIONS, estimateRun } from '../core/cost-estimate.ts';
import { chooseSeedProfiles, chooseValidationProfiles, countOf } from '../core/dataset-split.ts';
import { planSlots, type Slot } from '../core/plan.ts';
import type { Profile } from '../core/profile.ts';
import { ProfileFormatError } from '../core/profile-formats.ts';
import { parseProfiles, type LoadedProfiles } from '../core/profile-loader.ts';
import { claimRun, manifestPlan, sha256 } from '../core/run-manifest.ts';
import { BUILT_IN_WORKFLOW_DEFAULTS, cmPerProfileOf, parseWorkflowInput, seedProfilesShare, WorkflowInputError, type WorkflowInput } from '../core/workflow-input.ts';
import { parseS3ObjectUri } from '../contract/s3-uri.ts';
import { awsClients, ENV, fleetServers, numberEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import { outputsBucket, PLAN_FILE, runStore, tempPrefix, tempStore, type BatchFile, type BatchPhase, type BatchSettings, type PlanOutput, type RunPlan } from './run-files.ts';

export interface PlanEvent {
  /** The execution input as the user wrote it. */
  readonly input: unknown;
  readonly execution: { readonly id: string; readonly name: string; readonly startTime: string };
}

/** Requests one SGLang data-parallel replica serves at once before queueing (SGLang's running batch). */
const DEFAULT_REQUESTS_PER_REPLICA = 64;
const DEFAULT_BEDROCK_REQUESTS = 32;
/** S3 PUTs of batch files in flight. */
const WRITE_CONCURRENCY = 16;

export async function handler(event: PlanEvent): Promise<PlanOutput> {
  const input = parseWorkflowInput(event.input, {
    readinessTimeoutMinutes: numberEnv(ENV.readinessTimeoutMinutes, BUILT_IN_WORKFLOW_DEFAULTS.readinessTimeoutMinutes),
    bedrockModel: process.env[ENV.bedrockModel] || BUILT_IN_WORKFLOW_DEFAULTS.bedrockModel,
  });
  const runId = input.runId ?? event.execution.name;
  const log = logger({ handler: 'plan', runId });
  const { s3 } = awsClients();

  const bytes = await readProfiles(input.profiles);
  const loaded = loadProfiles(bytes, input);
  for (const rejection of loaded.rejected) log.warn('profile skipped', { location: rejection.location, reason: rejection.reason });
  if (loaded.profiles.length === 0) {
    throw new WorkflowInputError([`profiles ${input.profiles}: no usable profile (${loaded.rejected.length} rejected, reasons in the Plan log): fix the file or choose another`]);
  }
  const settings = { samplesPerProfile: input.samplesPerProfile, cmPerProfile: cmPerProfileOf(input), maxProfiles: input.maxProfiles, language: input.language, seed: input.seed };
  const slots = planSlots(loaded.profiles, settings);
  if (slots.length === 0) throw new WorkflowInputError(['samplesPerProfile is 0 and includeCm is false: nothing to generate; set samplesPerProfile or includeCm']);

  const store = runStore(s3, runId);
  // A run id is the unit of resume: the same id with other settings would mix two datasets.
  const conflicts = await claimRun(store, { run_id: runId, created_at: event.execution.startTime, profiles_file: input.profiles, profiles_sha256: sha256(bytes), format: loaded.format, plan: manifestPlan(settings) });
  if (conflicts.length > 0) {
    throw new WorkflowInputError([`runId ${runId} already holds a run with other settings (${conflicts.join('; ')}): start with the original settings to resume it, or give another runId`]);
  }

  const profileIds = [...new Set(slots.map((slot) => slot.profileId))];
  // Profiles written on Bedrock: tiered's validation profiles, iterative's seed profiles, or all of them.
  const onBedrock =
    input.strategy === 'tiered'
      ? chooseValidationProfiles(profileIds, input.validationRatio, input.seed)
      : input.strategy === 'iterative'
        ? chooseSeedProfiles(profileIds, Math.max(1, countOf(seedProfilesShare(input.seedProfiles), profileIds.length)), input.seed)
        : new Set<string>();
  const batches = planBatches(slots, {
    backendOf: (id) => (input.strategy === 'bedrock' || onBedrock.has(id) ? 'bedrock' : 'sglang'),
    maxSlots: input.batchSlots,
  });
  // iterative: the Bedrock batches are the seeds, run (by the Seed map) before every SGLang batch.
  const seedBatches = input.strategy === 'iterative' ? batches.filter((batch) => batch.backend === 'bedrock') : [];
  const mainBatches = batches.filter((batch) => !seedBatches.includes(batch));
  const phaseOf = (batch: Batch): BatchPhase | undefined => (input.strategy !== 'iterative' ? undefined : batch.backend === 'bedrock' ? 'seed' : 'expand');
  const profiles = new Map(loaded.profiles.map((profile) => [profile.id, profile]));
  const temp = tempPrefix(runId);
  const bucket = outputsBucket();
  const itemOf = (batch: Batch): ManifestItem => ({ batchId: batch.id, key: `${temp}batches/${batch.id}.json`, backend: batch.backend, slots: batch.slots.length, profiles: batch.profileIds.length });
  const batchStore = tempStore(s3, runId);
  const batchSettings: BatchSettings = {
    strategy: input.strategy,
    maxAttempts: input.maxAttempts,
    maxTokens: input.maxTokens,
    temperature: input.temperature,
    model: input.model,
    bedrockModel: input.bedrockModel,
    candidates: input.candidates,
    minScore: input.minScore,
    judgeModel: input.judgeModel ?? input.bedrockModel,
  };
  await inParallel(batches, WRITE_CONCURRENCY, async (batch) => {
    const phase = phaseOf(batch);
    const file: BatchFile = {
      runId,
      executionArn: event.execution.id,
      batchId: batch.id,
      backend: batch.backend,
      settings: batchSettings,
      profiles: batch.profileIds.map((id) => profiles.get(id) as Profile),
      slots: batch.slots,
      ...(phase !== undefined ? { phase } : {}),
      ...(phase === 'expand' ? { seedBatchIds: seedBatches.map((seedBatch) => seedBatch.id) } : {}),
    };
    await batchStore.writeJson(`batches/${batch.id}.json`, file);
  });
  const manifestKey = `${temp}manifest.jsonl`;
  const seedManifestKey = `${temp}seed-manifest.jsonl`;
  await batchStore.writeLines('manifest.jsonl', manifestLines(mainBatches.map(itemOf)));
  await batchStore.writeLines('seed-manifest.jsonl', manifestLines(seedBatches.map(itemOf)));

  const servers = fleetServers();
  const sglangBatches = batches.filter((batch) => batch.backend === 'sglang').length;
  const replicas = servers.reduce((sum, server) => sum + Math.max(1, server.dp), 0) * input.instances;
  const capacity = {
    sglangRequests: replicas * numberEnv(ENV.sglangRequestsPerReplica, DEFAULT_REQUESTS_PER_REPLICA),
    bedrockRequests: numberEnv(ENV.bedrockMaxConcurrency, DEFAULT_BEDROCK_REQUESTS),
  };
  const maxConcurrency = mapConcurrency(mainBatches, capacity);
  const seedMaxConcurrency = mapConcurrency(seedBatches, capacity);
  const plan: RunPlan = {
    runId,
    executionArn: event.execution.id,
    startedAt: event.execution.startTime,
    input,
    profiles: { file: input.profiles, format: loaded.format, usable: loaded.profiles.length, rejected: loaded.rejected },
    profileIds,
    slots: { total: slots.length, sbk: countKind(slots, 'SBK'), cm: countKind(slots, 'CM') },
    batches: { total: batches.length, sglang: sglangBatches, bedrock: batches.length - sglangBatches, seed: seedBatches.length },
    seedProfiles: input.strategy === 'iterative' ? onBedrock.size : 0,
    estimate: estimateRun(
      slots.map((slot) => ({ kind: slot.kind, inputTokens: slotPromptTokens(profiles.get(slot.profileId) as Profile, slot) })),
      { ...DEFAULT_COST_ASSUMPTIONS, bedrockConcurrency: BATCH_REQUESTS_IN_FLIGHT * Math.max(maxConcurrency, seedMaxConcurrency) },
    ),
  };
  await store.writeJson(PLAN_FILE, plan);
  log.info('planned', { profiles: profileIds.length, slots: slots.length, batches: batches.length, sglangBatches, maxConcurrency, bucket });
  return {
    runId,
    runUri: `s3://${bucket}/runs/${runId}/`,
    bucket,
    manifestKey,
    batches: mainBatches.length,
    seedManifestKey,
    seedBatches: seedBatches.length,
    seedMaxConcurrency,
    slots: slots.length,
    needsSglang: sglangBatches > 0,
    maxConcurrency,
    toleratedFailurePercent: input.toleratedFailurePercent,
    instances: input.instances,
    readinessTimeoutSeconds: input.readinessTimeoutMinutes * 60,
  };
}

async function readProfiles(url: string): Promise<Uint8Array> {
  const location = parseS3ObjectUri(url);
  if (location === undefined) throw new WorkflowInputError([`profiles ${JSON.stringify(url)}: expected an S3 URL such as "s3://my-inputs/roles.jsonl"`]);
  try {
    const object = await awsClients().s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return (await object.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (name === 'NoSuchKey' || name === 'NoSuchBucket') throw new WorkflowInputError([`profiles ${url}: no such object; upload the file (raiden start --profiles ./roles.jsonl does it) or fix the URL`]);
    if (name === 'AccessDenied') throw new WorkflowInputError([`profiles ${url}: access denied; put the file in the inputs bucket, which the orchestrator may read`]);
    throw error;
  }
}

function loadProfiles(bytes: Uint8Array, input: WorkflowInput): LoadedProfiles {
  try {
    return parseProfiles(bytes, input.profiles.split('/').pop() ?? input.profiles, input.format);
  } catch (error) {
    if (error instanceof ProfileFormatError) throw new WorkflowInputError([`profiles ${input.profiles}: ${error.message}`]);
    throw error;
  }
}

function countKind(slots: readonly Slot[], kind: Slot['kind']): number {
  return slots.filter((slot) => slot.kind === kind).length;
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}
