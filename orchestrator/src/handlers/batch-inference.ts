/**
 * Bedrock batch inference for a workflow run (input `"bedrockBatchInference": true`, bedrock strategy): the
 * open slots of every batch go to Bedrock batch jobs first, at the batch discount. Three steps of one Lambda,
 * with the state machine's Wait loop between them, since jobs take hours:
 * - submit: builds each open slot's request exactly as GenerateBatch will, writes the JSONL input under the
 *   run's temporary prefix and creates the jobs (fewer than Bedrock's minimum records: nothing is submitted,
 *   and the slots run on demand); the job timeout is fitted inside what the execution has left;
 * - status: whether every job is finished, and how long to wait before asking again; a Failed job fails the
 *   run, as it does for `raiden generate`;
 * - collect: stores the answers per batch, which GenerateBatch takes before calling Bedrock on demand.
 */
import { BedrockClient } from '@aws-sdk/client-bedrock';
import { RUN_FILES, TEMP_FILES } from '../contract/run-layout.ts';
import { s3Uri } from '../contract/s3-uri.ts';
import type { BatchInferenceEvent, BatchInferenceOutput } from '../contract/workflow-payloads.ts';
import { batchId } from '../core/run/batch-plan.ts';
import { openSlotRequests } from '../core/run/generation-run.ts';
import type { GenerateRequest, GenerateResult } from '../core/ports/llm-backend.ts';
import { existingSamples } from '../core/run/run-pipeline.ts';
import { RUN_DEFAULTS } from '../core/run/run-spec.ts';
import {
  batchJobStatuses,
  BatchModelUnsupportedError,
  batchReport,
  collectBatchResults,
  requestKey,
  submitBatchJobs,
  type BatchReport,
  type SubmittedJob,
} from '../llm/bedrock-batch.ts';
import { MIN_BATCH_TIMEOUT_HOURS } from '../llm/bedrock-batch-contract.ts';
import { MIN_BATCH_RECORDS } from '../llm/bedrock-settings.ts';
import { awsClients, ENV, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';
import { outputsBucket, runStore, tempPrefix, tempStore, type BatchFile, type WorkflowPlan } from './run-files.ts';

export type { BatchInferenceEvent, BatchInferenceOutput };

/** jobs.json: the submitted jobs and the batch each request belongs to. */
export interface SubmittedJobs {
  readonly modelId: string;
  readonly jobs: readonly SubmittedJob[];
  /** Request key -> batch id. */
  readonly batchOf: Record<string, string>;
  /** The open slots asked for when the jobs were planned. */
  readonly records?: number;
  /** Why no job was submitted (the open slots ran on demand). */
  readonly skipped?: string;
  /** report.json's bedrock_batch, in raiden generate's shape: written at submit when skipped, else by collect. */
  readonly report?: BatchReport;
}

export class BedrockBatchFailedError extends Error {
  override readonly name = 'BedrockBatchFailed';
}

/**
 * Step Functions fails a Standard execution whose history reaches 25,000 events:
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
 */
const HISTORY_EVENT_LIMIT = 25_000;
/**
 * Events one pass of the wait loop adds: WaitForBatchJobs entered and exited (2), BatchJobsStatus entered,
 * its Lambda scheduled, started and succeeded, and exited (5), BatchJobsDone entered and exited (2).
 */
const EVENTS_PER_BATCH_POLL = 9;
/**
 * Events kept for the rest of the execution: the fleet's wait loop (about 4,300 at the longest readiness wait an
 * input may ask for), Plan, the Map states, Finalize and teardown with their retries. The workflow test counts
 * them from the synthesized state machine.
 */
const EVENTS_RESERVED = 5_000;
/** Hours the execution keeps after the job's own timeout: collect, the on-demand leftovers, Finalize, FleetDown. */
const BATCH_TIMEOUT_MARGIN_HOURS = 3;

/**
 * The wait between two status checks: the input's poll interval, raised so that polling for the whole
 * execution timeout stays within the history events left for the loop.
 */
export function batchWaitSeconds(requestedSeconds: number, executionTimeoutSeconds: number): number {
  const polls = Math.floor((HISTORY_EVENT_LIMIT - EVENTS_RESERVED) / EVENTS_PER_BATCH_POLL);
  return Math.max(Math.ceil(requestedSeconds), Math.ceil(executionTimeoutSeconds / polls));
}

/**
 * The job timeout to give Bedrock: the requested hours, lowered so the job ends BATCH_TIMEOUT_MARGIN_HOURS
 * before the execution times out; undefined when not even Bedrock's minimum fits.
 */
export function fittedJobTimeoutHours(requestedHours: number, executionDeadline: number, now: number): number | undefined {
  const hoursLeft = Math.floor((executionDeadline - now) / 3_600_000 - BATCH_TIMEOUT_MARGIN_HOURS);
  const hours = Math.min(requestedHours, hoursLeft);
  return hours >= MIN_BATCH_TIMEOUT_HOURS ? hours : undefined;
}

let bedrock: BedrockClient | undefined;

/**
 * report.json's bedrock_batch for a run with bedrockBatchInference, as collect (or a skipped submit) recorded
 * it; jobs.json of an older raiden has none, and gives the jobs without their outcome.
 */
export function batchInferenceReport(submitted: SubmittedJobs, location: string): BatchReport {
  const records = submitted.records ?? submitted.jobs.reduce((sum, job) => sum + job.records.length, 0);
  if (submitted.report !== undefined) return submitted.report;
  if (submitted.skipped !== undefined) return batchReport(location, records, { skipped: `${submitted.skipped}: they ran on demand` });
  return {
    s3_uri: location,
    records,
    jobs: submitted.jobs.map((job) => ({ job_arn: job.jobArn, status: 'unknown', records: job.records.length })),
  };
}

/** Where a run's batch jobs keep their files: under its temporary prefix in the outputs bucket. */
export function batchInferenceLocation(runId: string): string {
  return s3Uri(outputsBucket(), `${tempPrefix(runId)}${TEMP_FILES.batchInferencePrefix}`);
}

export async function handler(event: BatchInferenceEvent): Promise<BatchInferenceOutput> {
  const log = logger({ handler: 'batch-inference', runId: event.runId });
  const { s3 } = awsClients();
  const temp = tempStore(s3, event.runId);
  const location = batchInferenceLocation(event.runId);
  bedrock ??= new BedrockClient({});
  if (event.action === 'submit') {
    const plan = await runStore(s3, event.runId).readJson<WorkflowPlan>(RUN_FILES.plan);
    if (plan === undefined) throw new Error(`run ${event.runId} has no ${RUN_FILES.plan}: Plan did not finish for it`);
    const requests = new Map<string, GenerateRequest>();
    const batchOf: Record<string, string> = {};
    for (let index = 0; index < plan.batches.total; index++) {
      const batch = await temp.readJson<BatchFile>(TEMP_FILES.batch(batchId(index)));
      if (batch === undefined || batch.backend !== 'bedrock') continue;
      // A resumed run sends only the slots still without a sample.
      const existing = await existingSamples(runStore(s3, event.runId, batch.batchId));
      const profiles = new Map(batch.profiles.map((profile) => [profile.id, profile]));
      for (const { request } of openSlotRequests(batch.slots, profiles, existing, plan.spec)) {
        const key = requestKey(request);
        requests.set(key, request);
        batchOf[key] = batch.batchId;
      }
    }
    const skip = async (skipped: string): Promise<BatchInferenceOutput> => {
      log.warn('batch inference skipped; the open slots run on demand', { open: requests.size, skipped });
      await temp.writeJson(TEMP_FILES.batchInferenceJobs, {
        modelId: plan.spec.bedrockModel,
        jobs: [],
        batchOf: {},
        records: requests.size,
        skipped,
        report: batchReport(location, requests.size, { skipped: `${skipped}: they ran on demand` }),
      } satisfies SubmittedJobs);
      // The records are the open slots, which run on demand instead.
      return { done: true, jobs: 0, records: requests.size, skipped };
    };
    // Bedrock refuses a job below its minimum record count: https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html
    if (requests.size < MIN_BATCH_RECORDS)
      return skip(`${requests.size} open slots, fewer than the ${MIN_BATCH_RECORDS} records Bedrock batch inference needs per job`);
    const requested = plan.spec.bedrockBatchTimeoutHours ?? RUN_DEFAULTS.bedrockBatchTimeoutHours;
    const deadline = Date.parse(event.executionStartTime ?? '') + (event.executionTimeoutSeconds ?? Number.NaN) * 1000;
    const timeoutHours = Number.isNaN(deadline) ? requested : fittedJobTimeoutHours(requested, deadline, Date.now());
    if (timeoutHours === undefined) {
      throw new BedrockBatchFailedError(
        `the execution times out at ${new Date(deadline).toISOString()}, too soon for a batch job of at least ${MIN_BATCH_TIMEOUT_HOURS} h plus ${BATCH_TIMEOUT_MARGIN_HOURS} h to collect and finish: deploy with a longer workflow executionTimeout, or run without bedrockBatchInference`,
      );
    }
    const modelId = plan.spec.bedrockModel;
    let jobs: SubmittedJob[];
    try {
      jobs = await submitBatchJobs(requests, {
        bedrock,
        s3,
        modelId,
        roleArn: requiredEnv(ENV.bedrockBatchRoleArn),
        s3Uri: location,
        jobName: `raiden-${event.runId}`.replace(/[^A-Za-z0-9-]+/gu, '-').slice(0, 50),
        timeoutHours,
      });
    } catch (error) {
      // As raiden generate refuses it: batch inference was asked for, and paying the on-demand price instead is the user's call.
      if (error instanceof BatchModelUnsupportedError) throw new BedrockBatchFailedError(`bedrockBatchInference: ${error.message}`);
      throw error;
    }
    await temp.writeJson(TEMP_FILES.batchInferenceJobs, { modelId, jobs, batchOf, records: requests.size } satisfies SubmittedJobs);
    log.info('batch jobs submitted', { jobs: jobs.map((job) => job.jobArn), records: requests.size, timeoutHours });
    return { done: false, jobs: jobs.length, records: requests.size, timeoutHours, waitSeconds: waitSeconds(event) };
  }

  const submitted = await temp.readJson<SubmittedJobs>(TEMP_FILES.batchInferenceJobs);
  if (submitted === undefined)
    throw new Error(`run ${event.runId} has no ${TEMP_FILES.batchInferenceJobs}: SubmitBatchJobs did not finish`);
  const records = submitted.jobs.reduce((sum, job) => sum + job.records.length, 0);
  if (event.action === 'status') {
    const statuses = await batchJobStatuses(
      bedrock,
      submitted.jobs.map((job) => job.jobArn),
    );
    const failed = statuses.find((status) => status.status === 'Failed');
    if (failed !== undefined) {
      throw new BedrockBatchFailedError(
        `Bedrock batch job ${failed.jobArn} failed: ${failed.message ?? 'no message'}; check the batch service role and the model's batch support, or run without bedrockBatchInference`,
      );
    }
    log.info('batch jobs', { statuses: statuses.map((status) => `${status.jobArn}: ${status.status}`) });
    return {
      done: statuses.every((status) => status.terminal),
      jobs: statuses.length,
      records,
      statuses: statuses.map((status) => status.status),
      waitSeconds: waitSeconds(event),
    };
  }

  const results = await collectBatchResults(s3, location, submitted.modelId, submitted.jobs);
  // A skipped submit wrote its report already; jobs that ran are reported with their final status and answers.
  if (submitted.skipped === undefined) {
    const statuses = new Map(
      (
        await batchJobStatuses(
          bedrock,
          submitted.jobs.map((job) => job.jobArn),
        )
      ).map((status) => [status.jobArn, status.status]),
    );
    const jobs = submitted.jobs.map((job) => ({
      jobArn: job.jobArn,
      status: statuses.get(job.jobArn) ?? 'unknown',
      records: job.records.length,
    }));
    await temp.writeJson(TEMP_FILES.batchInferenceJobs, {
      ...submitted,
      report: batchReport(location, submitted.records ?? records, { jobs, results }),
    } satisfies SubmittedJobs);
  }
  const answers = new Map<string, Record<string, GenerateResult>>();
  for (const [key, result] of results) {
    const batchId = submitted.batchOf[key];
    if (!result.ok || batchId === undefined) continue;
    const forBatch = answers.get(batchId) ?? {};
    forBatch[key] = result.result;
    answers.set(batchId, forBatch);
  }
  for (const [batchId, forBatch] of answers) await temp.writeJson(TEMP_FILES.batchAnswers(batchId), forBatch);
  const answered = [...answers.values()].reduce((sum, forBatch) => sum + Object.keys(forBatch).length, 0);
  log.info('batch answers stored', { records, answered, missing: records - answered });
  return { done: true, jobs: submitted.jobs.length, records };
}

function waitSeconds(event: BatchInferenceEvent): number {
  const requested = event.pollSeconds ?? RUN_DEFAULTS.bedrockBatchPollSeconds;
  return event.executionTimeoutSeconds === undefined ? requested : batchWaitSeconds(requested, event.executionTimeoutSeconds);
}
