import { BedrockClient } from '@aws-sdk/client-bedrock';
import { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openSlotRequests, type ExistingSample } from '../core/run/generation-run.ts';
import type { GenerateRequest, GenerateResult } from '../core/ports/llm-backend.ts';
import type { PreparedRun } from '../core/run/prepare-run.ts';
import { withBackend, type RunBackends } from '../core/run/run-backends.ts';
import { RUN_DEFAULTS, type RunSpec } from '../core/run/run-spec.ts';
import { bedrockRegion } from '../llm/bedrock-settings.ts';
import {
  BatchJobFailedError,
  BatchModelUnsupportedError,
  BatchPrefetchBackend,
  batchReport,
  planBatchJobs,
  requestKey,
  runBatchJobs,
  type BatchOutcome,
  type BatchReport,
} from '../llm/bedrock-batch.ts';
import { MIN_BATCH_RECORDS } from '../llm/bedrock-settings.ts';
import { hasNativeBatchFormat } from '../llm/bedrock-batch-native.ts';
import type { ProgressOutput } from './progress-display.ts';
import { UsageError } from './usage-error.ts';

/** Where `--dry-run` writes the batch jobs it would create, inside the run directory. */
export const BATCH_PREVIEW_DIR = 'bedrock-batch-preview';

/**
 * The dry run's word on `--bedrock-batch`, and its preview: each job's exact CreateModelInvocationJob request
 * (job.json, or job-<n>.json for several jobs) and input file (<job name>.jsonl) in <out>/bedrock-batch-preview/,
 * built by the same code as the real submission and checked against the same rules, without calling AWS.
 */
export async function bedrockBatchDryRun(prepared: PreparedRun, outDir: string): Promise<string[]> {
  const { spec } = prepared.plan;
  const requests = batchRequests(prepared, []);
  const preview = join(outDir, BATCH_PREVIEW_DIR);
  await rm(preview, { recursive: true, force: true });
  if (requests.size < MIN_BATCH_RECORDS) {
    return [
      '',
      `--bedrock-batch: this plan has ${requests.size} slots, fewer than the ${MIN_BATCH_RECORDS} records Bedrock batch inference needs per job; the run would generate them on demand at the Bedrock price (report.json bedrock_batch.skipped says why).`,
    ];
  }
  let jobs;
  try {
    jobs = planBatchJobs(requests, batchJobOptions(prepared, spec, requests));
  } catch (error) {
    if (!(error instanceof BatchModelUnsupportedError)) throw error;
    return ['', `--bedrock-batch: ${error.message}.`];
  }
  await mkdir(preview, { recursive: true });
  for (const [index, job] of jobs.entries()) {
    const name = jobs.length === 1 ? 'job.json' : `job-${index}.json`;
    await writeFile(join(preview, name), `${JSON.stringify(job.request, null, 2)}\n`);
    // Streamed line by line, as the submission uploads it: a job's file may reach the 1 GB quota.
    await pipeline(
      Readable.from(
        (function* () {
          for (const line of job.lines()) yield `${line}\n`;
        })(),
      ),
      createWriteStream(join(preview, `${job.request.jobName ?? index}.jsonl`)),
    );
  }
  return [
    '',
    `--bedrock-batch: the "Bedrock batch inference" row applies; slots whose batch answer is missing or fails verification run on demand at the Bedrock price.`,
    `--bedrock-batch: ${jobs.length} job(s) of ${requests.size} records previewed in ${preview}: the CreateModelInvocationJob request${jobs.length === 1 ? '' : 's'} and the input file${jobs.length === 1 ? '' : 's'}, nothing sent to AWS.`,
  ];
}

function batchRequests(prepared: PreparedRun, existing: readonly ExistingSample[]): Map<string, GenerateRequest> {
  const requests = new Map<string, GenerateRequest>();
  for (const { request } of openSlotRequests(prepared.slots, prepared.profiles, existing, prepared.plan.spec))
    requests.set(requestKey(request), request);
  return requests;
}

function batchJobOptions(prepared: PreparedRun, spec: RunSpec, requests: ReadonlyMap<string, GenerateRequest>) {
  return {
    modelId: spec.bedrockModel,
    roleArn: spec.bedrockBatchRole ?? '',
    s3Uri: spec.bedrockBatch ?? '',
    jobName: batchJobName(prepared.plan.runId, spec.bedrockModel, requests.keys()),
    timeoutHours: spec.bedrockBatchTimeoutHours ?? RUN_DEFAULTS.bedrockBatchTimeoutHours,
  };
}

export interface BatchPrefetchInput {
  readonly backends: RunBackends;
  readonly spec: RunSpec;
  readonly prepared: PreparedRun;
  readonly existing: readonly ExistingSample[];
  readonly stderr: ProgressOutput;
}

export interface BatchPrefetch {
  /** The run's backends, its Bedrock backend answering from the batch results first. */
  readonly backends: RunBackends;
  /** report.json's `bedrock_batch` section, when batch inference ran or was skipped. */
  readonly report: { readonly bedrock_batch?: BatchReport };
}

/**
 * With `--bedrock-batch`: builds every open slot's request exactly as runGeneration will, runs them as
 * batch inference jobs, and wraps the run's Bedrock backend so generation takes the batch answers first.
 * They are verified like any other; a rejected or missing one is answered on demand.
 */
export async function prefetchBedrockBatch(input: BatchPrefetchInput): Promise<BatchPrefetch> {
  const { spec, prepared } = input;
  const batch =
    spec.bedrockBatch === undefined
      ? undefined
      : {
          s3Uri: spec.bedrockBatch,
          timeoutHours: spec.bedrockBatchTimeoutHours ?? RUN_DEFAULTS.bedrockBatchTimeoutHours,
          pollSeconds: spec.bedrockBatchPollSeconds ?? RUN_DEFAULTS.bedrockBatchPollSeconds,
        };
  if (batch === undefined) return { backends: input.backends, report: {} };
  const live = input.backends.backend('bedrock');
  const requests = batchRequests(prepared, input.existing);
  // A resumed run with nothing left to do has nothing to batch.
  if (requests.size === 0) return { backends: input.backends, report: {} };
  if (requests.size < MIN_BATCH_RECORDS) {
    // Bedrock refuses a job below its minimum: https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html
    const skipped = `${requests.size} open slots, fewer than the ${MIN_BATCH_RECORDS} records Bedrock batch inference needs per job: they ran on demand`;
    input.stderr.write(`raiden: --bedrock-batch: ${skipped}\n`);
    return { backends: input.backends, report: { bedrock_batch: batchReport(batch.s3Uri, requests.size, { skipped }) } };
  }

  const modelId = spec.bedrockModel;
  const region = bedrockRegion(spec.bedrockRegion);
  const jobOptions = batchJobOptions(prepared, spec, requests);
  if (!hasNativeBatchFormat(modelId))
    throw new UsageError(
      `--bedrock-batch: batch records are written in Anthropic's native InvokeModel format, and ${modelId} is not an Anthropic model: give a Claude model with --bedrock-model, or run without --bedrock-batch`,
    );
  input.stderr.write(
    `raiden: --bedrock-batch: ${requests.size} requests for ${modelId} go to batch inference under ${batch.s3Uri}; jobs usually take hours (Bedrock stops them after ${batch.timeoutHours} h)\n`,
  );
  const bedrock = new BedrockClient({ region });
  const s3 = new S3Client({ region });
  let outcome: BatchOutcome;
  try {
    outcome = await runBatchJobs(requests, {
      bedrock,
      s3,
      ...jobOptions,
      pollIntervalMs: batch.pollSeconds * 1000,
      onStatus: (jobArn, status) => input.stderr.write(`raiden: batch job ${jobArn}: ${status}\n`),
    });
  } catch (error) {
    if (!isServiceError(error)) throw error;
    const what =
      error instanceof BatchJobFailedError
        ? error.message
        : `Bedrock batch inference did not finish: ${'$metadata' in error ? `${error.name}: ` : ''}${error.message}`;
    throw new UsageError(
      `${what}\nCheck that ${batch.s3Uri} is in ${region}, that --bedrock-batch-role can read and write it, and that ${modelId} supports batch inference there; or run without --bedrock-batch to generate on demand`,
    );
  } finally {
    bedrock.destroy();
    s3.destroy();
  }

  const prefetched = new Map<string, GenerateResult>();
  for (const [key, record] of outcome.results) if (record.ok) prefetched.set(key, record.result);
  const recordErrors = outcome.results.size - prefetched.size;
  input.stderr.write(
    `raiden: batch inference answered ${prefetched.size} of ${requests.size} requests (${recordErrors} record errors, ${outcome.missing.length} without output); those, and answers that fail verification, run on demand\n`,
  );
  return {
    backends: withBackend(input.backends, 'bedrock', new BatchPrefetchBackend(prefetched, live)),
    report: { bedrock_batch: batchReport(batch.s3Uri, requests.size, outcome) },
  };
}

/**
 * Same run, model and open slots give the same name (and so the same idempotency token): running the
 * command again after an interruption repeats the request instead of submitting a second paid job.
 */
function batchJobName(runId: string, modelId: string, keys: Iterable<string>): string {
  const stem = runId
    .replace(/[^A-Za-z0-9]+/gu, '-')
    .replace(/^-+|-+$/gu, '')
    .slice(0, 30);
  const digest = createHash('sha256')
    .update(`${modelId}\n${[...keys].join('\n')}`)
    .digest('hex')
    .slice(0, 12);
  return `raiden-${stem ? `${stem}-` : ''}${digest}`;
}

/** Errors of the service, the credentials or the network: the user fixes them; a bug still shows its stack. */
function isServiceError(error: unknown): error is Error {
  return (
    error instanceof Error &&
    (error instanceof BatchJobFailedError || '$metadata' in error || 'code' in error || error.name === 'CredentialsProviderError')
  );
}
