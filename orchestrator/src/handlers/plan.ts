/**
 * Plan: parse the run input into a RunSpec, prepare the run (profiles, slots, the strategy's assignment,
 * run.json), cut the slots into batches, and write the batch files, the manifests the Distributed Maps
 * read, and plan.json to S3.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { RUN_FILES, runPrefix, TEMP_FILES } from '../contract/run-layout.ts';
import { parseS3ObjectUri, s3Uri } from '../contract/s3-uri.ts';
import type { ManifestItem, PlanEvent, PlanOutput } from '../contract/workflow-payloads.ts';
import { manifestLines, mapConcurrency, planBatches, type Batch } from '../core/run/batch-plan.ts';
import { DEFAULT_COST_ASSUMPTIONS } from '../core/report/cost-estimate.ts';
import { writeProfileTable } from '../core/export/profile-table.ts';
import { claimPreparedRun, prepareRun } from '../core/run/prepare-run.ts';
import { claimWriter, RunBusyError } from '../core/run/run-manifest.ts';
import type { Profile } from '../core/profiles/profile.ts';
import { parseWorkflowSpec, RunSpecError } from '../core/run/run-spec.ts';
import { backendOfProfile, phaseOfProfile } from '../core/strategies/strategy.ts';
import { awsClients, ENV, fleetServers, numberEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import type { S3RunStore } from '../store/s3-run-store.ts';
import { outputsBucket, runStore, tempPrefix, tempStore, type BatchFile, type WorkflowPlan } from './run-files.ts';

export type { PlanEvent, PlanOutput };

/** Requests one SGLang data-parallel replica serves at once before queueing (SGLang's running batch). */
const DEFAULT_REQUESTS_PER_REPLICA = 64;
const DEFAULT_BEDROCK_REQUESTS = 32;
/** S3 PUTs of batch files in flight. */
const WRITE_CONCURRENCY = 16;

export async function handler(event: PlanEvent): Promise<PlanOutput> {
  const spec = parseWorkflowSpec(event.input, {
    readinessTimeoutMinutes: numberEnv(ENV.readinessTimeoutMinutes, 0) || undefined,
    bedrockModel: process.env[ENV.bedrockModel] || undefined,
  });
  const runId = spec.runId ?? event.execution.name;
  const log = logger({ handler: 'plan', runId });
  const { s3 } = awsClients();

  const bedrockRequests = numberEnv(ENV.bedrockMaxConcurrency, DEFAULT_BEDROCK_REQUESTS);
  const prepared = prepareRun(
    spec,
    { bytes: await readProfiles(spec.profiles), location: spec.profiles },
    {
      runId,
      startedAt: new Date(event.execution.startTime),
      costs: { ...DEFAULT_COST_ASSUMPTIONS, bedrockConcurrency: bedrockRequests },
    },
  );
  for (const rejection of prepared.loaded.rejected) log.warn('profile skipped', { location: rejection.location, reason: rejection.reason });
  // A run id is the unit of resume: one execution writes it at a time, and the same id with other
  // settings would mix two datasets.
  const store = runStore(s3, runId);
  await claimExecution(store, event.execution.id, runId);
  await claimPreparedRun(store, prepared);
  await writeProfileTable(store, prepared);

  const { plan } = prepared;
  const batches = planBatches(prepared.slots, {
    backendOf: (id) => backendOfProfile(plan.assignment, id),
    phaseOf: (id) => phaseOfProfile(plan.assignment, id),
    maxSlots: spec.batchSlots,
  });
  const seedBatches = batches.filter((batch) => batch.phase === 'seed');
  const mainBatches = batches.filter((batch) => batch.phase === 'main');
  const temp = tempPrefix(runId);
  const bucket = outputsBucket();
  const itemOf = (batch: Batch): ManifestItem => ({
    batchId: batch.id,
    key: `${temp}${TEMP_FILES.batch(batch.id)}`,
    backend: batch.backend,
    slots: batch.slots.length,
    profiles: batch.profileIds.length,
  });
  const batchStore = tempStore(s3, runId);
  await inParallel(batches, WRITE_CONCURRENCY, async (batch) => {
    const file: BatchFile = {
      runId,
      executionArn: event.execution.id,
      batchId: batch.id,
      backend: batch.backend,
      phase: batch.phase,
      profiles: batch.profileIds.map((id) => prepared.profiles.get(id) as Profile),
      slots: batch.slots,
      seedBatchIds: batch.phase === 'main' ? seedBatches.map((seedBatch) => seedBatch.id) : [],
    };
    await batchStore.writeJson(TEMP_FILES.batch(batch.id), file);
  });
  await batchStore.writeLines(TEMP_FILES.manifest, manifestLines(mainBatches.map(itemOf)));
  await batchStore.writeLines(TEMP_FILES.seedManifest, manifestLines(seedBatches.map(itemOf)));

  const replicas = fleetServers().reduce((sum, server) => sum + Math.max(1, server.dp), 0) * spec.instances;
  const capacity = { sglangRequests: replicas * numberEnv(ENV.sglangRequestsPerReplica, DEFAULT_REQUESTS_PER_REPLICA), bedrockRequests };
  const maxConcurrency = mapConcurrency(mainBatches, capacity);
  const seedMaxConcurrency = mapConcurrency(seedBatches, capacity);
  const sglangBatches = batches.filter((batch) => batch.backend === 'sglang').length;
  const workflowPlan: WorkflowPlan = {
    ...plan,
    executionArn: event.execution.id,
    instances: spec.instances,
    batches: { total: batches.length, sglang: sglangBatches, bedrock: batches.length - sglangBatches, seed: seedBatches.length },
  };
  await store.writeJson(RUN_FILES.plan, workflowPlan);
  log.info('planned', {
    profiles: plan.profileIds.length,
    slots: plan.slots.total,
    batches: batches.length,
    sglangBatches,
    maxConcurrency,
    bucket,
  });
  return {
    runId,
    runUri: s3Uri(bucket, runPrefix(runId)),
    bucket,
    manifestKey: `${temp}${TEMP_FILES.manifest}`,
    batches: mainBatches.length,
    seedManifestKey: `${temp}${TEMP_FILES.seedManifest}`,
    seedBatches: seedBatches.length,
    seedMaxConcurrency,
    slots: plan.slots.total,
    needsSglang: sglangBatches > 0,
    maxConcurrency,
    toleratedFailurePercent: spec.toleratedFailurePercent,
    instances: spec.instances,
    readinessTimeoutSeconds: spec.readinessTimeoutMinutes * 60,
    batchInference: spec.bedrockBatchInference,
    batchPollSeconds: spec.batchPollSeconds,
  };
}

/**
 * Takes the run's writer lease for this execution. An execution that still runs keeps it (a second
 * execution with the same runId is refused); one that has ended gives it up, which is how a rerun resumes.
 */
async function claimExecution(store: S3RunStore, executionArn: string, runId: string): Promise<void> {
  const { sfn } = awsClients();
  try {
    await claimWriter(store, {
      lease: { writer: executionArn, claimed_at: new Date().toISOString() },
      isActive: async (holder) => {
        try {
          return (await sfn.send(new DescribeExecutionCommand({ executionArn: holder.writer }))).status === 'RUNNING';
        } catch (error) {
          // Unsure counts as active: two writers cost twice and mix their work, a refused start costs a retry.
          return (error as { name?: string }).name !== 'ExecutionDoesNotExist';
        }
      },
    });
  } catch (error) {
    if (!(error instanceof RunBusyError)) throw error;
    throw new RunSpecError([
      {
        field: 'runId',
        message: `${runId} is being written by execution ${error.holder.writer} since ${error.holder.claimed_at}: wait for it to end (or stop it), or give another runId`,
      },
    ]);
  }
}

async function readProfiles(url: string): Promise<Uint8Array> {
  const location = parseS3ObjectUri(url);
  if (location === undefined)
    throw new RunSpecError([
      { field: 'profiles', message: `${JSON.stringify(url)}: expected an S3 URL such as "s3://my-inputs/roles.jsonl"` },
    ]);
  try {
    const object = await awsClients().s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return (await object.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (name === 'NoSuchKey' || name === 'NoSuchBucket')
      throw new RunSpecError([
        {
          field: 'profiles',
          message: `${url}: no such object; upload the file (raiden start --profiles ./roles.jsonl does it) or fix the URL`,
        },
      ]);
    if (name === 'AccessDenied')
      throw new RunSpecError([
        { field: 'profiles', message: `${url}: access denied; put the file in the inputs bucket, which the orchestrator may read` },
      ]);
    throw error;
  }
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
