import {
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  type BedrockClient,
  type CreateModelInvocationJobCommandInput,
  type ModelInvocationJobStatus,
} from '@aws-sdk/client-bedrock';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { GenerateRequest, GenerateResult, LlmBackend } from '../core/ports/llm-backend.ts';
import { sleep } from './retry-policy.ts';
import { ServerDataError } from './server-numbers.ts';
import { MIN_BATCH_RECORDS } from './bedrock-settings.ts';
import { parseS3Uri } from '../contract/s3-uri.ts';
import { anthropicBody, hasNativeBatchFormat, readAnthropicOutput } from './bedrock-batch-native.ts';
import { assertBatchContract, MAX_BATCH_FILE_BYTES, MAX_BATCH_RECORDS } from './bedrock-batch-contract.ts';

export { MAX_BATCH_RECORDS };

export interface BatchJobOptions {
  readonly bedrock: BedrockClient;
  readonly s3: S3Client;
  readonly modelId: string;
  /** A service role Bedrock assumes to read the input, write the output and invoke the model. */
  readonly roleArn: string;
  /** `s3://bucket/prefix`: input goes under `<prefix>/input/`, Bedrock writes under `<prefix>/output/`. */
  readonly s3Uri: string;
  readonly jobName: string;
  readonly pollIntervalMs?: number;
  /** Bedrock's own limit for the job, after which it expires with what it has done (24 to 168 hours). */
  readonly timeoutHours?: number;
  readonly maxRecordsPerJob?: number;
  readonly maxBytesPerJob?: number;
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

/** The model has no native record format here: its batch jobs could not use the forced tool. */
export class BatchModelUnsupportedError extends Error {
  override readonly name = 'BatchModelUnsupportedError';
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

/**
 * Splits n records into jobs of equal count within [MIN, max] records and at most maxBytes each (sizes[i] is
 * record i's line in bytes), so the last job is never too small and no input file exceeds its quota.
 */
export function splitIntoJobs<T>(
  items: readonly T[],
  max = MAX_BATCH_RECORDS,
  sizes: readonly number[] = [],
  maxBytes = MAX_BATCH_FILE_BYTES,
): T[][] {
  if (items.length < MIN_BATCH_RECORDS)
    throw new Error(`batch inference needs at least ${MIN_BATCH_RECORDS} records per job, got ${items.length}: run them on demand`);
  const total = sizes.reduce((sum, size) => sum + size, 0);
  for (let jobs = Math.max(Math.ceil(items.length / max), Math.ceil(total / maxBytes)); ; jobs++) {
    const size = Math.ceil(items.length / jobs);
    if (size < MIN_BATCH_RECORDS)
      throw new Error(
        `${items.length} records of ${total} bytes cannot be split into jobs of at least ${MIN_BATCH_RECORDS} records and at most ${maxBytes} bytes: run them on demand`,
      );
    const chunks = Array.from({ length: Math.ceil(items.length / size) }, (_, job) => [
      job * size,
      Math.min(items.length, (job + 1) * size),
    ]);
    const fits = chunks.every(([from, to]) => sizes.slice(from, to).reduce((sum, bytes) => sum + bytes, 0) <= maxBytes);
    if (fits) return chunks.map(([from, to]) => items.slice(from, to));
  }
}

interface OutputLine {
  recordId?: string;
  modelOutput?: unknown;
  error?: { errorCode?: number | string; errorMessage?: string };
}

/** A submitted job and the request key of each of its records, by record id: enough to collect it later. */
export interface SubmittedJob {
  readonly jobArn: string;
  readonly jobName: string;
  readonly records: readonly (readonly [recordId: string, key: string])[];
}

/** A job as it would be created: the exact CreateModelInvocationJob request and its input file, line by line. */
export interface PlannedJob {
  readonly request: CreateModelInvocationJobCommandInput;
  readonly records: readonly (readonly [recordId: string, key: string])[];
  readonly bytes: number;
  /** Where the input file goes, in the batch bucket. */
  readonly inputKey: string;
  /** The input file's lines, joined to their record ids on each call, so no job is ever held as one string. */
  lines(): Generator<string>;
}

/**
 * Plans the jobs for `requests` without calling AWS: InvokeModel jobs of native Anthropic records (tool calling
 * is refused in Converse jobs), split by record count and file size, each checked against the documented rules.
 * The client token derives from the job's whole content, so submitting the same requests again (a retried
 * step, a rerun command) does not start a second paid job.
 */
export function planBatchJobs(
  requests: ReadonlyMap<string, GenerateRequest>,
  options: Pick<BatchJobOptions, 'modelId' | 'roleArn' | 's3Uri' | 'jobName' | 'timeoutHours' | 'maxRecordsPerJob' | 'maxBytesPerJob'>,
): PlannedJob[] {
  if (!hasNativeBatchFormat(options.modelId))
    throw new BatchModelUnsupportedError(
      `batch records are written in Anthropic's native InvokeModel format, and ${options.modelId} is not an Anthropic model: use a Claude model or run on demand`,
    );
  const { bucket, prefix } = batchLocation(options.s3Uri);
  // Each record's body is built and serialized once, here: the same text sizes the jobs, makes the client
  // token, is checked, previewed and uploaded; only its record id, of fixed width, is put in front per job.
  const bodies = [...requests].map(([key, request]) => [key, JSON.stringify(anthropicBody(request))] as const);
  const sizes = bodies.map(([, body]) => Buffer.byteLength(recordLine(batchRecordId(0, 0), body)) + 1);
  const chunks = splitIntoJobs(
    bodies.map((entry, index) => [entry, sizes[index] ?? 0] as const),
    options.maxRecordsPerJob,
    sizes,
    options.maxBytesPerJob,
  );
  return chunks.map((chunk, job) => {
    const jobName = `${options.jobName}-${job}`.slice(0, 63);
    const inputKey = join(prefix, 'input', `${jobName}.jsonl`);
    const records = chunk.map(([[key]], index) => [batchRecordId(job, index), key] as const);
    const lines = function* () {
      for (const [index, [[, body]]] of chunk.entries()) yield recordLine(batchRecordId(job, index), body);
    };
    const digest = createHash('sha256').update(`${jobName}\n${options.modelId}\n`);
    for (const text of lines()) digest.update(`${text}\n`);
    const request: CreateModelInvocationJobCommandInput = {
      jobName,
      roleArn: options.roleArn,
      modelId: options.modelId,
      modelInvocationType: 'InvokeModel',
      inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://${bucket}/${inputKey}`, s3InputFormat: 'JSONL' } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/${join(prefix, 'output')}/` } },
      timeoutDurationInHours: options.timeoutHours ?? 24,
      clientRequestToken: digest.digest('hex').slice(0, 32),
    };
    // What is sent (and previewed) is what the documented rules were checked on.
    assertBatchContract({ request, lines: lines() });
    return { request, records, bytes: chunk.reduce((sum, [, size]) => sum + size, 0), inputKey, lines };
  });
}

/** One line of the input file: JSON.stringify({ recordId, modelInput }) of the parsed body, without parsing it again. */
function recordLine(recordId: string, body: string): string {
  return `{"recordId":${JSON.stringify(recordId)},"modelInput":${body}}`;
}

/** Uploads each planned job's input file as a stream (multipart when large) and creates the jobs. */
export async function submitBatchJobs(
  requests: ReadonlyMap<string, GenerateRequest>,
  options: Omit<BatchJobOptions, 'pollIntervalMs' | 'onStatus'>,
): Promise<SubmittedJob[]> {
  const { bucket } = batchLocation(options.s3Uri);
  const planned = planBatchJobs(requests, options);
  const submitted: SubmittedJob[] = [];
  for (const job of planned) {
    const body = Readable.from(
      (function* () {
        for (const text of job.lines()) yield `${text}\n`;
      })(),
    );
    await new Upload({
      client: options.s3,
      params: { Bucket: bucket, Key: job.inputKey, Body: body, ContentType: 'application/jsonl' },
      leavePartsOnError: false,
    }).done();
    const created = await options.bedrock.send(new CreateModelInvocationJobCommand(job.request));
    submitted.push({ jobArn: created.jobArn ?? '', jobName: job.request.jobName ?? '', records: job.records });
  }
  return submitted;
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
      const body = (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }))).Body;
      if (body === undefined) continue;
      // Each output line echoes its input: a full job's file reaches hundreds of MB, so it is read line by line.
      for await (const text of createInterface({ input: body as Readable, crlfDelay: Infinity })) {
        if (text.trim() === '') continue;
        const line = parseOutputLine(text);
        const key = line?.recordId === undefined ? undefined : keyOf.get(line.recordId);
        // A line that is not a record leaves its slot missing, and a missing slot runs on demand.
        if (line === undefined || key === undefined) continue;
        results.set(key, recordResult(line, modelId));
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

function recordResult(line: OutputLine, modelId: string): BatchRecordResult {
  if (line.modelOutput === undefined)
    return { ok: false, error: `batch record error ${line.error?.errorCode ?? ''}: ${line.error?.errorMessage ?? 'no message'}` };
  try {
    const answer = readAnthropicOutput(line.modelOutput);
    return { ok: true, result: { text: answer.text, model: modelId, usage: answer.usage, requests: 1, backend: BATCH_BACKEND } };
  } catch (error) {
    if (!(error instanceof ServerDataError)) throw error;
    return { ok: false, error: `batch record ${line.recordId}: ${error.message}` };
  }
}

function parseOutputLine(text: string): OutputLine | undefined {
  try {
    const line = JSON.parse(text) as OutputLine | null;
    return typeof line === 'object' && line !== null ? line : undefined;
  } catch {
    return undefined;
  }
}

/** report.json's bedrock_batch: one shape whether raiden generate or the workflow ran the jobs. */
export interface BatchReport {
  /** Where the jobs' input and output files are. */
  readonly s3_uri: string;
  /** The open slots: sent to the jobs, or, when `skipped` says why, run on demand. */
  readonly records: number;
  /** Each job with its last status and its record count; none when skipped. */
  readonly jobs: readonly { readonly job_arn: string; readonly status: string; readonly records: number }[];
  /** Of the records sent: answered, answered with a record error, and without any output line (these ran on demand). */
  readonly answered?: number;
  readonly record_errors?: number;
  readonly missing?: number;
  readonly skipped?: string;
}

/** The bedrock_batch section of jobs that ran, from their statuses and collected results, or of a batch skipped. */
export function batchReport(
  s3Uri: string,
  records: number,
  outcome: { readonly skipped: string } | (Pick<BatchOutcome, 'jobs'> & { readonly results: ReadonlyMap<string, BatchRecordResult> }),
): BatchReport {
  if ('skipped' in outcome) return { s3_uri: s3Uri, records, jobs: [], skipped: outcome.skipped };
  const answered = [...outcome.results.values()].filter((result) => result.ok).length;
  return {
    s3_uri: s3Uri,
    records,
    jobs: outcome.jobs.map((job) => ({ job_arn: job.jobArn, status: job.status, records: job.records })),
    answered,
    record_errors: outcome.results.size - answered,
    missing: records - outcome.results.size,
  };
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
