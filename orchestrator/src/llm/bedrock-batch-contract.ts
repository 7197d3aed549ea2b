/**
 * The documented rules a batch inference job must meet, written once: submitBatchJobs checks its own jobs with
 * them before uploading, the dry-run preview is checked with them, and the tests' mocked control plane refuses
 * what breaks them, so a mock that accepts any record cannot hide a job real Bedrock would fail.
 */
import type { CreateModelInvocationJobCommandInput } from '@aws-sdk/client-bedrock';
import { MIN_BATCH_RECORDS } from './bedrock-settings.ts';
import { ANTHROPIC_BEDROCK_VERSION, hasNativeBatchFormat } from './bedrock-batch-native.ts';

/**
 * Default quotas of a job: records per job (and per input file) and the input file's size. Service Quotas may
 * hold other values for an account; these are the defaults listed at
 * https://docs.aws.amazon.com/general/latest/gr/bedrock.html#limits_bedrock (quota names in
 * https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html). Each job here has one file,
 * so the larger quota on a job's total size never binds before the file's.
 */
export const MAX_BATCH_RECORDS = 50_000;
export const MAX_BATCH_FILE_BYTES = 1_000_000_000;

/**
 * CreateModelInvocationJob's field constraints:
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateModelInvocationJob.html
 */
const JOB_NAME = /^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9+\-.]){0,63}$/u;
const CLIENT_TOKEN = /^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$/u;
const ROLE_ARN = /^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role\/.+$/u;
export const MIN_BATCH_TIMEOUT_HOURS = 24;
export const MAX_BATCH_TIMEOUT_HOURS = 168;

/** Record ids are alphanumeric: https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html */
const RECORD_ID = /^[A-Za-z0-9]+$/u;

export interface BatchJobUnderCheck {
  readonly request: CreateModelInvocationJobCommandInput;
  /** The lines of the job's one JSONL input file, read once. */
  readonly lines: Iterable<string>;
}

/** Every rule the job breaks, each naming the field and the value; empty when it meets them all. */
export function batchContractProblems(job: BatchJobUnderCheck): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  let records = 0;
  let bytes = 0;
  for (const line of job.lines) {
    if (line.trim() === '') continue;
    records++;
    bytes += Buffer.byteLength(line) + 1;
    const { id, problems } = checkRecord(line, job.request);
    if (id !== undefined && seen.has(id)) problems.push(`recordId ${id} appears twice`);
    if (id !== undefined) seen.add(id);
    found.push(...problems.map((problem) => `record ${records}: ${problem}`));
  }
  return [...jobRequestProblems(job.request, records, bytes), ...found];
}

/** The rules on the CreateModelInvocationJob request itself, and on its records' count and size. */
function jobRequestProblems(request: CreateModelInvocationJobCommandInput, records: number, bytes: number): string[] {
  const problems: string[] = [];
  const jobName = request.jobName ?? '';
  if (jobName.length > 63 || !JOB_NAME.test(jobName))
    problems.push(`jobName "${jobName}" does not match [a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9+-.]){0,63} within 63 characters`);
  if (request.clientRequestToken !== undefined && !CLIENT_TOKEN.test(request.clientRequestToken))
    problems.push(`clientRequestToken "${request.clientRequestToken}" is not alphanumeric with single hyphens`);
  if (!ROLE_ARN.test(request.roleArn ?? '')) problems.push(`roleArn "${request.roleArn}" is not an IAM role ARN`);
  const hours = request.timeoutDurationInHours;
  if (hours !== undefined && !(Number.isInteger(hours) && hours >= MIN_BATCH_TIMEOUT_HOURS && hours <= MAX_BATCH_TIMEOUT_HOURS))
    problems.push(`timeoutDurationInHours ${hours} is not a whole number from ${MIN_BATCH_TIMEOUT_HOURS} to ${MAX_BATCH_TIMEOUT_HOURS}`);
  const input = request.inputDataConfig?.s3InputDataConfig;
  if (input?.s3Uri === undefined || !input.s3Uri.startsWith('s3://'))
    problems.push(`inputDataConfig s3Uri "${input?.s3Uri}" is not an S3 URI`);
  else if (!input.s3Uri.endsWith('.jsonl')) problems.push(`input file ${input.s3Uri} does not end in .jsonl`);
  if (input?.s3InputFormat !== 'JSONL') problems.push(`s3InputFormat is ${input?.s3InputFormat}, not JSONL`);
  const output = request.outputDataConfig?.s3OutputDataConfig?.s3Uri;
  if (output === undefined || !output.startsWith('s3://')) problems.push(`outputDataConfig s3Uri "${output}" is not an S3 URI`);
  if (records < MIN_BATCH_RECORDS) problems.push(`${records} records: a job needs at least ${MIN_BATCH_RECORDS}`);
  if (records > MAX_BATCH_RECORDS) problems.push(`${records} records: a job holds at most ${MAX_BATCH_RECORDS}`);
  if (bytes > MAX_BATCH_FILE_BYTES) problems.push(`the input file has ${bytes} bytes: at most ${MAX_BATCH_FILE_BYTES}`);
  return problems;
}

/** The rules on one line of the input file, for the job's invocation type and model; and its record id. */
function checkRecord(
  line: string,
  request: Pick<CreateModelInvocationJobCommandInput, 'modelId' | 'modelInvocationType'>,
): { id: string | undefined; problems: string[] } {
  let record: { recordId?: unknown; modelInput?: unknown };
  try {
    record = JSON.parse(line) as typeof record;
  } catch {
    return { id: undefined, problems: ['not JSON'] };
  }
  const id = typeof record.recordId === 'string' ? record.recordId : undefined;
  const problems: string[] = [];
  if (id === undefined || !RECORD_ID.test(id)) problems.push(`recordId ${JSON.stringify(record.recordId)} is not alphanumeric`);
  if (typeof record.modelInput !== 'object' || record.modelInput === null) return { id, problems: [...problems, 'no modelInput object'] };
  const body = record.modelInput as Record<string, unknown>;
  if ((request.modelInvocationType ?? 'InvokeModel') === 'Converse') {
    // https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference.html
    if ('toolConfig' in body) problems.push('toolConfig in a Converse job fails with a 400 error; use the InvokeModel type');
  } else if (hasNativeBatchFormat(request.modelId ?? '')) {
    problems.push(...anthropicProblems(body));
  }
  return { id, problems };
}

/** Throws with every broken rule: a job that breaks one is never uploaded or created. */
export function assertBatchContract(job: BatchJobUnderCheck): void {
  const problems = batchContractProblems(job);
  if (problems.length > 0)
    throw new Error(
      `batch job ${job.request.jobName ?? ''} breaks Bedrock's batch inference rules:\n  ${problems.slice(0, 10).join('\n  ')}`,
    );
}

/** https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html */
function anthropicProblems(body: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (body.anthropic_version !== ANTHROPIC_BEDROCK_VERSION)
    problems.push(`anthropic_version is ${String(body.anthropic_version)}, not ${ANTHROPIC_BEDROCK_VERSION}`);
  if (!(Number.isInteger(body.max_tokens) && (body.max_tokens as number) > 0))
    problems.push(`max_tokens ${String(body.max_tokens)} is not a positive whole number`);
  if ('temperature' in body && 'top_p' in body) problems.push('both temperature and top_p: Claude Sonnet 4.5 and Haiku 4.5 take only one');
  if ('system' in body && typeof body.system !== 'string' && !Array.isArray(body.system))
    problems.push('system is neither text nor blocks');
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) problems.push('messages is not a non-empty array');
  else {
    for (const message of messages as { role?: unknown; content?: unknown }[]) {
      if (message.role !== 'user' && message.role !== 'assistant')
        problems.push(`message role ${String(message.role)} is not user or assistant`);
      if (typeof message.content !== 'string' && !Array.isArray(message.content))
        problems.push('message content is neither text nor blocks');
    }
    if ((messages as { role?: unknown }[])[0]?.role !== 'user') problems.push('the first message is not the user turn');
  }
  for (const key of ['toolConfig', 'inferenceConfig', 'modelId'])
    if (key in body) problems.push(`${key} is a Converse field, not part of the native body`);
  // Cache breakpoints belong to on-demand calls; each batch record runs on its own.
  if (JSON.stringify(body).includes('"cache_control"')) problems.push('cache_control block in a batch record');
  const tools = body.tools;
  if (tools !== undefined) {
    if (!Array.isArray(tools)) problems.push('tools is not an array');
    else
      for (const tool of tools as { name?: unknown; input_schema?: unknown }[])
        if (typeof tool.name !== 'string' || typeof tool.input_schema !== 'object' || tool.input_schema === null)
          problems.push('a tool without name and input_schema');
  }
  const choice = body.tool_choice as { type?: unknown; name?: unknown } | undefined;
  if (choice !== undefined) {
    const names = Array.isArray(tools) ? (tools as { name?: unknown }[]).map((tool) => tool.name) : [];
    if (choice.type === 'tool' && !names.includes(choice.name))
      problems.push(`tool_choice names ${String(choice.name)}, which is not among the tools`);
    if (!['auto', 'any', 'tool', 'none'].includes(String(choice.type)))
      problems.push(`tool_choice type ${String(choice.type)} is not auto, any, tool or none`);
  }
  return problems;
}
