import {
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  type BedrockClient,
  type ModelInvocationJobStatus,
} from '@aws-sdk/client-bedrock';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ConverseCommandOutput } from '@aws-sdk/client-bedrock-runtime';
import { createHash } from 'node:crypto';
import { converseBody, readConverseOutput } from './bedrock-converse.ts';
import type { GenerateRequest, GenerateResult, LlmBackend } from '../core/ports/llm-backend.ts';
import { sleep } from './retry-policy.ts';
import { ServerDataError } from './server-numbers.ts';

import { MIN_BATCH_RECORDS } from './bedrock-settings.ts';
import { parseS3Uri } from '../contract/s3-uri.ts';
/** Default records-per-job quota; larger sets are split into several jobs of equal size. */
export const MAX_BATCH_RECORDS = 50_000;

export interface BatchJobOptions {
  readonly bedrock: BedrockClient;
  readonly s3: S3Client;
  readonly modelId: string;
  /** A service role Bedrock assumes to read the input and write the output (s3:GetObject, s3:PutObject, s3:ListBucket). */
  readonly roleArn: string;
  /** `s3://bucket/prefix`: input goes under `<prefix>/input/`, Bedrock writes under `<prefix>/output/`. */
  readonly s3Uri: string;
  readonly jobName: string;
  readonly promptCaching?: boolean;
  readonly pollIntervalMs?: number;
  /** Bedrock's own limit for the job, after which it expires with what it has done (24 to 168 hours). */
  readonly timeoutHours?: number;
  readonly maxRecordsPerJob?: number;
  /** Called with `Submitted` when a job is created, then on each status change. */
  readonly onStatus?: (jobArn: string, status: string) => void;
}

export type BatchRecordResult = { readonly ok: true; readonly result: GenerateResult } | { readonly ok: false; readonly error: string };

export interface BatchOutcome {
  readonly jobs: readonly { readonly jobArn: string; readonly status: ModelInvocationJobStatus | string; readonly records: number }[];
  /** By the caller's request key; records with no output line (expired, stopped) are absent. */
  readonly results: ReadonlyMap<string, BatchRecordResult>;
  /** Keys no output line answered: run them on demand. */
  readonly missing: readonly string[];
}

/** A job ended as Failed: nothing of it is usable. */
export class BatchJobFailedError extends Error {
  override readonly name = 'BatchJobFailedError';
}

const TERMINAL = new Set(['Completed', 'PartiallyCompleted', 'Failed', 'Stopped', 'Expired']);

function batchLocation(uri: string): { bucket: string; prefix: string } {
  const location = parseS3Uri(uri);
  if (location === undefined) throw new Error(`${uri} is not an S3 URI: use s3://bucket/prefix`);
  return { bucket: location.bucket, prefix: location.key.replace(/\/+$/u, '') };
}

const join = (...parts: string[]) => parts.filter((part) => part !== '').join('/');

/** Bedrock record ids are alphanumeric; slot ids hold slashes and CJK, so each record gets a positional id. */
export function batchRecordId(job: number, index: number): string {
  return `R${String(job).padStart(3, '0')}${String(index).padStart(8, '0')}`;
}

/** Splits n records into jobs of equal size within [MIN, max], so the last job is never too small. */
export function splitIntoJobs<T>(items: readonly T[], max = MAX_BATCH_RECORDS): T[][] {
  if (items.length < MIN_BATCH_RECORDS)
    throw new Error(`batch inference needs at least ${MIN_BATCH_RECORDS} records per job, got ${items.length}: run them on demand`);
  const jobs = Math.ceil(items.length / max);
  const size = Math.ceil(items.length / jobs);
  return Array.from({ length: jobs }, (_, job) => items.slice(job * size, (job + 1) * size));
}

interface OutputLine {
  recordId?: string;
  modelOutput?: Pick<ConverseCommandOutput, 'output' | 'usage' | 'stopReason'>;
  error?: { errorCode?: number | string; errorMessage?: string };
}

/** A submitted job and the request key of each of its records, by record id: enough to collect it later. */
export interface SubmittedJob {
  readonly jobArn: string;
  readonly jobName: string;
  readonly records: readonly (readonly [recordId: string, key: string])[];
}

/**
 * Writes each job's JSONL input under `<prefix>/input/` and creates the jobs. The client token derives from
 * the job's content, so submitting the same requests again (a retried step) does not start a second paid job.
 */
export async function submitBatchJobs(
  requests: ReadonlyMap<string, GenerateRequest>,
  options: Omit<BatchJobOptions, 'pollIntervalMs' | 'onStatus'>,
): Promise<SubmittedJob[]> {
  const { bucket, prefix } = batchLocation(options.s3Uri);
  const chunks = splitIntoJobs([...requests.entries()], options.maxRecordsPerJob);
  return Promise.all(
    chunks.map(async (chunk, job) => {
      const records: [string, string][] = [];
      const lines = chunk.map(([key, request], index) => {
        const recordId = batchRecordId(job, index);
        records.push([recordId, key]);
        return JSON.stringify({ recordId, modelInput: converseBody(request, options.promptCaching ?? false) });
      });
      const jobName = `${options.jobName}-${job}`.slice(0, 63);
      const inputKey = join(prefix, 'input', `${jobName}.jsonl`);
      await options.s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: inputKey, Body: `${lines.join('\n')}\n`, ContentType: 'application/jsonl' }),
      );
      const created = await options.bedrock.send(
        new CreateModelInvocationJobCommand({
          jobName,
          roleArn: options.roleArn,
          modelId: options.modelId,
          modelInvocationType: 'Converse',
          clientRequestToken: createHash('sha256')
            .update(`${jobName}\n${lines.length}\n${lines[0] ?? ''}`)
            .digest('hex')
            .slice(0, 32),
          inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://${bucket}/${inputKey}`, s3InputFormat: 'JSONL' } },
          outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/${join(prefix, 'output')}/` } },
          timeoutDurationInHours: options.timeoutHours ?? 24,
        }),
      );
      return { jobArn: created.jobArn ?? '', jobName, records };
    }),
  );
}

export interface JobStatus {
  readonly jobArn: string;
  readonly status: ModelInvocationJobStatus | string;
  readonly message?: string | undefined;
  readonly terminal: boolean;
}

/** Each job's status now; `terminal` once Bedrock will not change it any more. */
export async function batchJobStatuses(bedrock: BedrockClient, jobArns: readonly string[]): Promise<JobStatus[]> {
  return Promise.all(
    jobArns.map(async (jobArn) => {
      const state = await bedrock.send(new GetModelInvocationJobCommand({ jobIdentifier: jobArn }));
      const status = state.status ?? 'unknown';
      return { jobArn, status, message: state.message, terminal: TERMINAL.has(status) };
    }),
  );
}

/** The answers of finished jobs, by request key; a record without a usable line is left out (run it on demand). */
export async function collectBatchResults(
  s3: S3Client,
  s3Uri: string,
  modelId: string,
  jobs: readonly SubmittedJob[],
): Promise<Map<string, BatchRecordResult>> {
  const { bucket, prefix } = batchLocation(s3Uri);
  const results = new Map<string, BatchRecordResult>();
  for (const job of jobs) {
    const keyOf = new Map(job.records);
    // Bedrock writes <output prefix>/<job id>/<input file name>.out, plus manifest.json.out.
    const jobId = job.jobArn.split('/').pop() ?? '';
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: join(prefix, 'output', jobId) + '/' }));
    for (const object of listed.Contents ?? []) {
      if (object.Key === undefined || !object.Key.endsWith('.jsonl.out')) continue;
      const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }))).Body?.transformToString('utf8');
      for (const text of (body ?? '').split('\n')) {
        if (text.trim() === '') continue;
        const line = parseOutputLine(text);
        const key = line?.recordId === undefined ? undefined : keyOf.get(line.recordId);
        // A line that is not a record leaves its slot missing, and a missing slot runs on demand.
        if (line === undefined || key === undefined) continue;
        if (line.modelOutput !== undefined) {
          let answer;
          try {
            answer = readConverseOutput(line.modelOutput);
          } catch (error) {
            if (!(error instanceof ServerDataError)) throw error;
            results.set(key, { ok: false, error: `batch record ${line.recordId}: ${error.message}` });
            continue;
          }
          results.set(key, {
            ok: true,
            result: { text: answer.text, model: modelId, usage: answer.usage, requests: 1, backend: BATCH_BACKEND },
          });
        } else {
          results.set(key, {
            ok: false,
            error: `batch record error ${line.error?.errorCode ?? ''}: ${line.error?.errorMessage ?? 'no message'}`,
          });
        }
      }
    }
  }
  return results;
}

/**
 * Runs the requests as batch inference jobs and waits for them: submit, poll until every job is terminal,
 * collect. A job that Failed is an error; Expired, Stopped and PartiallyCompleted keep what they answered.
 */
export async function runBatchJobs(requests: ReadonlyMap<string, GenerateRequest>, options: BatchJobOptions): Promise<BatchOutcome> {
  const submitted = await submitBatchJobs(requests, options);
  const jobs: { jobArn: string; status: string; records: number }[] = [];
  await Promise.all(
    submitted.map(async (job) => {
      let status = 'Submitted';
      options.onStatus?.(job.jobArn, status);
      let state: JobStatus;
      for (;;) {
        [state] = (await batchJobStatuses(options.bedrock, [job.jobArn])) as [JobStatus];
        if (state.status !== status) options.onStatus?.(job.jobArn, state.status);
        status = state.status;
        if (state.terminal) break;
        await sleep(options.pollIntervalMs ?? 60_000);
      }
      jobs.push({ jobArn: job.jobArn, status, records: job.records.length });
      if (status === 'Failed') throw new BatchJobFailedError(`Bedrock batch job ${job.jobArn} failed: ${state.message ?? 'no message'}`);
    }),
  );
  const results = await collectBatchResults(options.s3, options.s3Uri, options.modelId, submitted);
  return { jobs, results, missing: [...requests.keys()].filter((key) => !results.has(key)) };
}

function parseOutputLine(text: string): OutputLine | undefined {
  try {
    const line = JSON.parse(text) as OutputLine | null;
    return typeof line === 'object' && line !== null ? line : undefined;
  } catch {
    return undefined;
  }
}

/** The key a request is matched by: the same slot prompt always gives the same key. */
export function requestKey(request: GenerateRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([request.schema.name, request.messages]))
    .digest('hex');
}

/** The backend name batch answers carry, so the report prices them at the batch discount. */
export const BATCH_BACKEND = 'bedrock-batch';

/**
 * Answers each request once from batch results, then on demand: runGeneration verifies batch outputs
 * like any other, and a slot whose batch answer was rejected (or missing) is retried on the live backend.
 */
export class BatchPrefetchBackend implements LlmBackend {
  readonly name: string;

  constructor(
    private readonly prefetched: Map<string, GenerateResult>,
    private readonly live: LlmBackend,
  ) {
    this.name = live.name;
  }

  models(): string[] {
    return this.live.models?.() ?? [];
  }

  inFlight(): number {
    return this.live.inFlight();
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const key = requestKey(request);
    const ready = this.prefetched.get(key);
    if (ready === undefined) return this.live.generate(request);
    this.prefetched.delete(key);
    return ready;
  }
}
