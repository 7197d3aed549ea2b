/**
 * Plan: parse the run input into a RunSpec, prepare the run (profiles, slots, the strategy's assignment,
 * run.json), cut the slots into batches, and write the batch files, the manifests the Distributed Maps
 * read, and plan.json to S3.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { RUN_FILES, runPrefix, TEMP_FILES } from '../contract/run-layout.ts';
import { parseS3ObjectUri, s3Uri } from '../contract/s3-uri.ts';
import type { BatchBackend, ManifestItem, PlanEvent, PlanOutput } from '../contract/workflow-payloads.ts';
import { manifestLine, mapConcurrency, streamBatches } from '../core/run/batch-plan.ts';
import { DEFAULT_COST_ASSUMPTIONS } from '../core/report/cost-estimate.ts';
import { writeProfileTable } from '../core/export/profile-table.ts';
import { claimPreparedRun, prepareRun } from '../core/run/prepare-run.ts';
import { claimWriter, RunBusyError } from '../core/run/run-manifest.ts';
import { parseWorkflowSpec, RunSpecError } from '../core/run/run-spec.ts';
import { backendOfProfile, phaseOfProfile, type Phase } from '../core/strategies/strategy.ts';
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
  for (const rejection of prepared.plan.input.rejected)
    log.warn('profile skipped', { location: rejection.location, reason: rejection.reason });
  // A run id is the unit of resume: one execution writes it at a time, and the same id with other
  // settings would mix two datasets.
  const store = runStore(s3, runId);
  await claimExecution(store, event.execution.id, runId);
  await claimPreparedRun(store, prepared);
  await writeProfileTable(store, prepared);

  const { plan } = prepared;
  const temp = tempPrefix(runId);
  const bucket = outputsBucket();
  const batchStore = tempStore(s3, runId);
  const options = {
    backendOf: (id: string) => backendOfProfile(plan.assignment, id),
    phaseOf: (id: string) => phaseOfProfile(plan.assignment, id),
    maxSlots: spec.batchSlots,
  };
  const counts: Record<Phase, Record<BatchBackend, number>> = { seed: { sglang: 0, bedrock: 0 }, main: { sglang: 0, bedrock: 0 } };
  // Each phase is one pass over the plan, streamed: a batch's file is written and its manifest line sent
  // as the batch is cut, so memory stays flat in the number of batches. Batch ids are the same in both
  // passes (the plan is deterministic). The seed phase goes first: every main batch file names the seed batches.
  const seedBatchIds: string[] = [];
  const phaseLines = async function* (phase: Phase): AsyncGenerator<string> {
    const writes = new BoundedWrites(WRITE_CONCURRENCY);
    for (const batch of streamBatches(prepared.plannedSlots(), options)) {
      if (batch.phase !== phase) continue;
      counts[phase][batch.backend]++;
      if (phase === 'seed') seedBatchIds.push(batch.id);
      const file: BatchFile = {
        runId,
        executionArn: event.execution.id,
        batchId: batch.id,
        backend: batch.backend,
        phase: batch.phase,
        profiles: batch.profiles,
        slots: batch.slots,
        seedBatchIds: phase === 'main' ? seedBatchIds : [],
      };
      await writes.add(batchStore.writeJson(TEMP_FILES.batch(batch.id), file));
      const item: ManifestItem = {
        batchId: batch.id,
        key: `${temp}${TEMP_FILES.batch(batch.id)}`,
        backend: batch.backend,
        slots: batch.slots.length,
        profiles: batch.profileIds.length,
      };
      yield manifestLine(item);
    }
    await writes.drain();
  };
  // Without seed profiles the seed manifest is empty, and a pass over the plan to find that out is spared.
  await batchStore.writeLines(TEMP_FILES.seedManifest, plan.assignment.seed.length > 0 ? phaseLines('seed') : []);
  await batchStore.writeLines(TEMP_FILES.manifest, phaseLines('main'));
  const total = (phase: Phase) => counts[phase].sglang + counts[phase].bedrock;
  const batches = { main: total('main'), seed: total('seed'), all: total('main') + total('seed') };

  const replicas = fleetServers().reduce((sum, server) => sum + Math.max(1, server.dp), 0) * spec.instances;
  const capacity = { sglangRequests: replicas * numberEnv(ENV.sglangRequestsPerReplica, DEFAULT_REQUESTS_PER_REPLICA), bedrockRequests };
  const maxConcurrency = mapConcurrency(counts.main, capacity);
  const seedMaxConcurrency = mapConcurrency(counts.seed, capacity);
  const sglangBatches = counts.main.sglang + counts.seed.sglang;
  const workflowPlan: WorkflowPlan = {
    ...plan,
    executionArn: event.execution.id,
    instances: spec.instances,
    batches: { total: batches.all, sglang: sglangBatches, bedrock: batches.all - sglangBatches, seed: batches.seed },
  };
  await store.writeJson(RUN_FILES.plan, workflowPlan);
  log.info('planned', {
    profiles: plan.profileIds.length,
    slots: plan.slots.total,
    batches: batches.all,
    sglangBatches,
    maxConcurrency,
    bucket,
  });
  return {
    runId,
    runUri: s3Uri(bucket, runPrefix(runId)),
    bucket,
    manifestKey: `${temp}${TEMP_FILES.manifest}`,
    batches: batches.main,
    seedManifestKey: `${temp}${TEMP_FILES.seedManifest}`,
    seedBatches: batches.seed,
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

/** Writes kept in flight at most `limit` at a time; the first failure is thrown by the next add or by drain. */
class BoundedWrites {
  private readonly pending = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  async add(write: Promise<void>): Promise<void> {
    const tracked = write.then(
      () => void this.pending.delete(tracked),
      (error: unknown) => {
        this.pending.delete(tracked);
        this.failure ??= { error };
      },
    );
    this.pending.add(tracked);
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    this.throwFailure();
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    this.throwFailure();
  }

  private throwFailure(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }
}
