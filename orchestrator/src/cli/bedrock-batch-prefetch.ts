import { BedrockClient } from '@aws-sdk/client-bedrock';
import { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { openSlots, slotRequest } from '../core/generation-run.ts';
import { supportsPromptCaching } from '../core/model-prices.ts';
import type { Profile } from '../core/profile.ts';
import type { GenerationBase, StrategyName } from '../core/strategies/strategy.ts';
import { bedrockRegion } from '../llm/bedrock-settings.ts';
import { BatchJobFailedError, BatchPrefetchBackend, requestKey, runBatchJobs, type BatchOutcome } from '../llm/bedrock-batch.ts';
import { MIN_BATCH_RECORDS } from '../llm/bedrock-settings.ts';
import type { GenerateRequest, GenerateResult } from '../core/ports/llm-backend.ts';
import type { ProgressOutput } from './progress-display.ts';
import type { ConnectedRun, StrategyFlags } from './strategy-setup.ts';
import { UsageError } from './usage-error.ts';

/** `--bedrock-batch` and its companions: the open slots go through batch inference before generation. */
export interface BedrockBatchFlags {
  /** `s3://bucket/prefix`: the JSONL input and Bedrock's output go under it. */
  readonly s3Uri: string;
  /** The service role Bedrock assumes to read the input and write the output. */
  readonly roleArn: string;
  readonly timeoutHours: number;
  readonly pollSeconds: number;
}

export const DEFAULT_BATCH_TIMEOUT_HOURS = 24;
export const DEFAULT_BATCH_POLL_SECONDS = 60;

const S3_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/u;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/u;

/** Checks the `--bedrock-batch*` flags: only with the bedrock strategy, with a role and an s3:// URI. */
export function bedrockBatchFlagsFrom(opts: Record<string, unknown>, strategy: StrategyName): BedrockBatchFlags | undefined {
  const s3Uri = opts.bedrockBatch as string | undefined;
  const roleArn = opts.bedrockBatchRole as string | undefined;
  if (s3Uri === undefined) {
    const stray = (['bedrockBatchRole', 'bedrockBatchTimeoutHours', 'bedrockBatchPollSeconds'] as const).filter((key) => opts[key] !== undefined);
    if (stray.length > 0) throw new UsageError(`${stray.map(flagName).join(', ')} only apply with --bedrock-batch s3://bucket/prefix`);
    return undefined;
  }
  if (strategy !== 'bedrock') {
    throw new UsageError(`--bedrock-batch works only with --strategy bedrock (or --backend bedrock), not with --strategy ${strategy}: batch inference writes every slot on Bedrock`);
  }
  if (!S3_URI.test(s3Uri)) throw new UsageError(`--bedrock-batch ${JSON.stringify(s3Uri)} is not an S3 location: give s3://bucket/prefix, in a bucket of the Bedrock region`);
  if (roleArn === undefined) {
    throw new UsageError(`--bedrock-batch needs --bedrock-batch-role ARN: the service role Bedrock assumes to read the input from and write the output to ${s3Uri} (see README, Bedrock batch inference)`);
  }
  if (!ROLE_ARN.test(roleArn)) throw new UsageError(`--bedrock-batch-role ${JSON.stringify(roleArn)} is not an IAM role ARN: give arn:aws:iam::<account>:role/<name>`);
  return {
    s3Uri: s3Uri.replace(/\/+$/u, ''),
    roleArn,
    timeoutHours: (opts.bedrockBatchTimeoutHours as number | undefined) ?? DEFAULT_BATCH_TIMEOUT_HOURS,
    pollSeconds: (opts.bedrockBatchPollSeconds as number | undefined) ?? DEFAULT_BATCH_POLL_SECONDS,
  };
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/gu, (letter) => `-${letter.toLowerCase()}`)}`;
}

/** The dry run's word on `--bedrock-batch`: which estimate row applies, or why the real run would refuse. */
export function bedrockBatchDryRunNote(batch: BedrockBatchFlags | undefined, slots: number): string[] {
  if (batch === undefined) return [];
  if (slots < MIN_BATCH_RECORDS) {
    return ['', `--bedrock-batch: this plan has ${slots} slots, fewer than the ${MIN_BATCH_RECORDS} records Bedrock batch inference needs per job; drop --bedrock-batch to run on demand.`];
  }
  return ['', `--bedrock-batch: the "Bedrock batch inference" row applies; slots whose batch answer is missing or fails verification run on demand at the Bedrock price.`];
}

export interface BatchPrefetchInput {
  readonly run: ConnectedRun;
  readonly flags: StrategyFlags;
  readonly generation: GenerationBase;
  readonly runId: string;
  readonly stderr: ProgressOutput;
}

export interface BatchPrefetch {
  /** The run with its Bedrock backend answering from the batch results first. */
  readonly run: ConnectedRun;
  /** report.json's `bedrock_batch` section, when batch inference ran. */
  readonly report: { readonly bedrock_batch?: Record<string, unknown> };
}

/**
 * With `--bedrock-batch`: builds every open slot's request exactly as runGeneration will, runs them as
 * batch inference jobs, and wraps the run's Bedrock backend so generation takes the batch answers first.
 * They are verified like any other; a rejected or missing one is answered on demand.
 */
export async function prefetchBedrockBatch(input: BatchPrefetchInput): Promise<BatchPrefetch> {
  const batch = input.flags.bedrockBatch;
  const live = input.run.backends.bedrock;
  if (batch === undefined || live === undefined) return { run: input.run, report: {} };
  const requests = new Map<string, GenerateRequest>();
  for (const slot of openSlots(input.generation)) {
    const request = slotRequest(input.generation.profiles.get(slot.profileId) as Profile, slot, input.generation);
    requests.set(requestKey(request), request);
  }
  // A resumed run with nothing left to do has nothing to batch.
  if (requests.size === 0) return { run: input.run, report: {} };
  if (requests.size < MIN_BATCH_RECORDS) {
    throw new UsageError(
      `--bedrock-batch: only ${requests.size} slots are still open, and Bedrock batch inference needs at least ${MIN_BATCH_RECORDS} records per job; run the same command without --bedrock-batch to generate them on demand`,
    );
  }

  const modelId = input.flags.bedrockModel;
  const region = bedrockRegion(input.flags.bedrockRegion);
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
      modelId,
      roleArn: batch.roleArn,
      s3Uri: batch.s3Uri,
      jobName: batchJobName(input.runId, modelId, requests.keys()),
      promptCaching: supportsPromptCaching(modelId),
      pollIntervalMs: batch.pollSeconds * 1000,
      timeoutHours: batch.timeoutHours,
      onStatus: (jobArn, status) => input.stderr.write(`raiden: batch job ${jobArn}: ${status}\n`),
    });
  } catch (error) {
    if (!isServiceError(error)) throw error;
    const what = error instanceof BatchJobFailedError ? error.message : `Bedrock batch inference did not finish: ${'$metadata' in error ? `${error.name}: ` : ''}${error.message}`;
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
    run: { ...input.run, backends: { ...input.run.backends, bedrock: new BatchPrefetchBackend(prefetched, live) } },
    report: {
      bedrock_batch: {
        s3_uri: batch.s3Uri,
        jobs: outcome.jobs.map((job) => ({ job_arn: job.jobArn, status: job.status, records: job.records })),
        records: requests.size,
        answered: prefetched.size,
        record_errors: recordErrors,
        missing: outcome.missing.length,
      },
    },
  };
}

/**
 * Same run, model and open slots give the same name (and so the same idempotency token): running the
 * command again after an interruption repeats the request instead of submitting a second paid job.
 */
function batchJobName(runId: string, modelId: string, keys: Iterable<string>): string {
  const stem = runId.replace(/[^A-Za-z0-9]+/gu, '-').replace(/^-+|-+$/gu, '').slice(0, 30);
  const digest = createHash('sha256').update(`${modelId}\n${[...keys].join('\n')}`).digest('hex').slice(0, 12);
  return `raiden-${stem ? `${stem}-` : ''}${digest}`;
}

/** Errors of the service, the credentials or the network: the user fixes them; a bug still shows its stack. */
function isServiceError(error: unknown): error is Error {
  return error instanceof Error && (error instanceof BatchJobFailedError || '$metadata' in error || 'code' in error || error.name === 'CredentialsProviderError');
}
