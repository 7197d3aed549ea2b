import { BedrockClient, type CreateModelInvocationJobCommandInput } from '@aws-sdk/client-bedrock';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runGeneration, slotRequest } from '../../orchestrator/src/core/run/generation-run.ts';
import { planSlots } from '../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../orchestrator/src/core/profiles/profile-loader.ts';
import { buildUsageLedger, costReport } from '../../orchestrator/src/core/report/run-cost.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import {
  BatchModelUnsupportedError,
  BatchPrefetchBackend,
  collectBatchResults,
  planBatchJobs,
  requestKey,
  runBatchJobs,
  splitIntoJobs,
  submitBatchJobs,
  type BatchJobOptions,
} from '../../orchestrator/src/llm/bedrock-batch.ts';
import { anthropicBody, readAnthropicOutput } from '../../orchestrator/src/llm/bedrock-batch-native.ts';
import { batchContractProblems } from '../../orchestrator/src/llm/bedrock-batch-contract.ts';
import { ServerDataError } from '../../orchestrator/src/llm/server-numbers.ts';
import type { GenerateRequest, GenerateResult, LlmBackend } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { fakeSample } from '../../bench/simulated-sglang/role-model.ts';
import { CHARACTEREVAL_PROFILES } from '../support/run-cli.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { fakeBatchService, type BatchJobOutcome, type FakeBatchOptions } from '../support/fake-bedrock-batch.ts';

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const BUCKET = 'raiden-batch';
const { profiles } = parseProfiles(readFileSync(CHARACTEREVAL_PROFILES), 'c.json');
const byId = new Map(profiles.map((p) => [p.id, p]));
const slots = planSlots(profiles, { samplesPerProfile: 2, language: 'auto', seed: 3, cmPerProfile: 0 }).slice(0, 120);
const requestOf = (slotIndex: number): GenerateRequest => slotRequest(byId.get(slots[slotIndex]!.profileId)!, slots[slotIndex]!, {});

let local: LocalS3;
let s3: S3Client;
beforeAll(async () => {
  local = await startLocalS3([BUCKET]);
  s3 = local.client;
});
afterAll(async () => local.close());

/** The live on-demand backend: answers like the batch does and counts its calls. */
class CountingBackend implements LlmBackend {
  readonly name = 'bedrock';
  calls = 0;
  inFlight() {
    return 0;
  }
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    this.calls++;
    return {
      text: fakeSample({ messages: request.messages.map((m) => ({ role: m.role, content: m.content })) }),
      model: MODEL,
      usage: { inputTokens: 900, outputTokens: 120 },
      requests: 1,
    };
  }
}

async function batchThenGenerate(outcome: BatchJobOutcome, options: FakeBatchOptions = {}) {
  fakeBatchService(s3, BUCKET, MODEL, outcome, options);
  const requests = new Map(slots.map((_, index) => [requestKey(requestOf(index)), requestOf(index)]));
  const jobOptions: BatchJobOptions = {
    bedrock: new BedrockClient({ region: 'us-east-1' }),
    s3,
    modelId: MODEL,
    roleArn: 'arn:aws:iam::123456789012:role/raiden-batch',
    s3Uri: `s3://${BUCKET}/runs/${outcome}`,
    jobName: `raiden-${outcome.toLowerCase()}`,
    pollIntervalMs: 1,
  };
  const batch = await runBatchJobs(requests, jobOptions);
  const prefetched = new Map([...batch.results].flatMap(([key, result]) => (result.ok ? [[key, result.result] as const] : [])));
  const live = new CountingBackend();
  const store = await LocalRunStore.open(mkdtempSync(join(tmpdir(), 'raiden-batch-run-')));
  await store.prepareAppends();
  const generation = await runGeneration({
    profiles: byId,
    slots,
    backend: new BatchPrefetchBackend(prefetched, live),
    store,
    existing: [],
    concurrency: 8,
    maxAttempts: 2,
    strategy: 'bedrock',
  });
  return { batch, live, generation, store };
}

describe('Bedrock batch inference (control plane mocked, JSONL in and out through s3rver and the real S3 client)', () => {
  beforeEach(() => mockClient(BedrockClient).reset());

  it('Completed: every output line is matched to its slot by recordId; no on-demand call; priced at the batch discount', async () => {
    const { batch, live, generation, store } = await batchThenGenerate('Completed');
    expect(batch.jobs).toEqual([{ jobArn: expect.stringContaining('model-invocation-job/'), status: 'Completed', records: 120 }]);
    expect(batch.missing).toEqual([]);
    expect(generation.counters.accepted).toBe(120);
    expect(live.calls).toBe(0);
    const ledger = await buildUsageLedger(store.readSamples(), store.readRejects());
    expect(Object.keys(ledger)).toEqual([`bedrock-batch:${MODEL}`]);
    const cost = costReport(ledger, DEFAULT_PRICES, { wallSeconds: 1 });
    // 120 x (900 in, 120 out) at $3/$15 per million, half price in batch.
    expect(cost.by_model[`bedrock-batch:${MODEL}`]?.usd).toBeCloseTo((120 * (900 * 3 + 120 * 15)) / 1e6 / 2, 6);
  });

  it('PartiallyCompleted: records with an error line are retried on demand', async () => {
    const { batch, live, generation } = await batchThenGenerate('PartiallyCompleted', { errorEvery: 10 });
    expect([...batch.results.values()].filter((r) => !r.ok)).toHaveLength(12);
    expect(live.calls).toBe(12);
    expect(generation.counters.accepted).toBe(120);
  });

  it('Expired: records the job never reached have no line; they are listed as missing and run on demand', async () => {
    const { batch, live, generation } = await batchThenGenerate('Expired', { processOnly: 80 });
    expect(batch.jobs[0]?.status).toBe('Expired');
    expect(batch.missing).toHaveLength(40);
    expect(live.calls).toBe(40);
    expect(generation.emptySlots).toEqual([]);
  });

  it('Failed: throws with the service message', async () => {
    await expect(batchThenGenerate('Failed')).rejects.toThrow(/failed: The role cannot read the input bucket/u);
  });

  it('refuses fewer than 100 records and splits large sets into jobs that all meet the minimum', () => {
    expect(() => splitIntoJobs(Array(99).fill(0))).toThrow(/at least 100 records/u);
    expect(splitIntoJobs(Array(250).fill(0), 200).map((job) => job.length)).toEqual([125, 125]);
    expect(splitIntoJobs(Array(100_001).fill(0)).map((job) => job.length)).toEqual([33_334, 33_334, 33_333]);
  });
});

describe('batch records in the native InvokeModel format (tool calling is refused in Converse batch jobs)', () => {
  const ROLE = 'arn:aws:iam::123456789012:role/raiden-batch';
  const requests = new Map(slots.map((_, index) => [requestKey(requestOf(index)), requestOf(index)]));
  const plan = (extra: Partial<BatchJobOptions> = {}) =>
    planBatchJobs(requests, { modelId: MODEL, roleArn: ROLE, s3Uri: 's3://bucket/runs/x', jobName: 'raiden-x', ...extra });

  it('one Anthropic Messages body per record: the schema core/prompts gives becomes the one tool, forced; no prompt-cache block', () => {
    const request = requestOf(0);
    const body = anthropicBody(request);
    expect(body).toEqual({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      system: request.messages
        .filter((m) => m.role === 'system')
        .map((m) => m.content)
        .join('\n\n'),
      messages: request.messages
        .filter((m) => m.role !== 'system')
        .map((m) => ({ role: m.role, content: [{ type: 'text', text: m.content }] })),
      tools: [{ name: request.schema.name, description: expect.any(String), input_schema: request.schema.schema }],
      tool_choice: { type: 'tool', name: request.schema.name },
    });
    const [job] = plan();
    expect(job?.request).toMatchObject({ modelInvocationType: 'InvokeModel', modelId: MODEL });
    const lines = [...job!.lines()];
    expect(batchContractProblems({ request: job!.request, lines })).toEqual([]);
    expect(lines.join('\n')).not.toMatch(/cache_control|cachePoint|toolConfig/u);
  });

  it('reads the native output: the tool input, usage with cache counts; a body that is not a Messages response is a record error', () => {
    const answer = readAnthropicOutput({
      content: [
        { type: 'text', text: 'ok' },
        { type: 'tool_use', id: 't', name: 'n', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 3 },
    });
    expect(answer).toEqual({
      text: '{"a":1}',
      stopReason: 'tool_use',
      usage: { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 3 },
    });
    expect(() => readAnthropicOutput({ output: { message: {} } })).toThrow(ServerDataError);
    expect(() => readAnthropicOutput({ content: [], usage: { input_tokens: -1 } })).toThrow(/usage.input_tokens = -1/u);
  });

  it('builds each record once on the way to Bedrock: sizing, the client token, the check and the upload share its text', async () => {
    let built = 0;
    // anthropicBody reads a request's temperature once per body it builds.
    const counted = new Map(
      [...requests].map(([key, request]) => [
        key,
        Object.defineProperty({ ...request }, 'temperature', {
          get: () => {
            built++;
            return request.temperature;
          },
        }) as GenerateRequest,
      ]),
    );
    const bedrock = fakeBatchService(s3, BUCKET, MODEL, 'Completed');
    try {
      const submitted = await submitBatchJobs(counted, {
        bedrock: new BedrockClient({ region: 'us-east-1' }),
        s3,
        modelId: MODEL,
        roleArn: ROLE,
        s3Uri: `s3://${BUCKET}/runs/built-once`,
        jobName: 'raiden-once',
      });
      expect(submitted.map((job) => job.records.length)).toEqual([120]);
    } finally {
      bedrock.restore();
    }
    expect(built).toBe(requests.size);
  });

  it('what the plan would send is checked against the documented rules first: a broken job is never uploaded or previewed', () => {
    const zero = new Map([...requests].map(([key, request], index) => [key, index === 3 ? { ...request, maxTokens: 0 } : request]));
    expect(() =>
      planBatchJobs(zero, { modelId: MODEL, roleArn: 'raiden-batch', s3Uri: 's3://bucket/runs/x', jobName: 'raiden-x' }),
    ).toThrow(
      new Error(
        `batch job raiden-x-0 breaks Bedrock's batch inference rules:\n  roleArn "raiden-batch" is not an IAM role ARN\n  record 4: max_tokens 0 is not a positive whole number`,
      ),
    );
  });

  it('a model without a native format here is refused before anything is written', () => {
    expect(() => plan({ modelId: 'us.amazon.nova-pro-v1:0' })).toThrow(BatchModelUnsupportedError);
  });

  it('caps a job by bytes as well as records, each job keeping the 100-record minimum', () => {
    const [one] = plan();
    const bytes = one!.bytes;
    expect(plan({ maxBytesPerJob: bytes }).map((job) => job.records.length)).toEqual([120]);
    // 120 records over two files would leave one below the minimum: refused, so the caller runs them on demand.
    expect(() => plan({ maxBytesPerJob: bytes - 1 })).toThrow(/cannot be split into jobs of at least 100 records and at most \d+ bytes/u);
    // Large records first: two jobs of 150 would put 3,000 bytes in the first file, so three jobs of 100.
    const sizes = [...Array<number>(150).fill(20), ...Array<number>(150).fill(1)];
    expect(splitIntoJobs(sizes, 1000, sizes, 2000).map((job) => job.length)).toEqual([100, 100, 100]);
    expect(splitIntoJobs(sizes, 1000, sizes, 5000).map((job) => job.length)).toEqual([300]);
  });

  it('the same requests give the same jobs and client token; other requests another token', () => {
    expect(plan()[0]?.request.clientRequestToken).toBe(plan()[0]?.request.clientRequestToken);
    const fewer = new Map([...requests].slice(1));
    const other = planBatchJobs(fewer, { modelId: MODEL, roleArn: ROLE, s3Uri: 's3://bucket/runs/x', jobName: 'raiden-x' });
    expect(other[0]?.request.clientRequestToken).not.toBe(plan()[0]?.request.clientRequestToken);
  });

  it('collects an output file line by line, past lines that are not records', async () => {
    const [job] = plan({ s3Uri: `s3://${BUCKET}/runs/stream` });
    const out = job!.records.map(([recordId], index) =>
      JSON.stringify({
        recordId,
        modelInput: {},
        modelOutput: { content: [{ type: 'tool_use', input: { n: index } }], usage: { input_tokens: 1, output_tokens: 2 } },
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'runs/stream/output/job9/raiden-x-0.jsonl.out',
        Body: ['not json', ...out].join('\r\n'),
      }),
    );
    const results = await collectBatchResults(s3, `s3://${BUCKET}/runs/stream`, MODEL, [
      { jobArn: 'arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/job9', jobName: 'raiden-x-0', records: job!.records },
    ]);
    expect(results.size).toBe(120);
    expect(results.get(job!.records[7]![1])).toMatchObject({ ok: true, result: { text: '{"n":7}', backend: 'bedrock-batch' } });
  });

  it('the contract refuses what real Bedrock refuses: Converse records with toolConfig, prompt-cache blocks, a short job, a bad record id', () => {
    const request: CreateModelInvocationJobCommandInput = {
      jobName: 'raiden-x-0',
      roleArn: ROLE,
      modelId: MODEL,
      modelInvocationType: 'Converse',
      inputDataConfig: { s3InputDataConfig: { s3Uri: 's3://b/p/input/raiden-x-0.jsonl', s3InputFormat: 'JSONL' } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://b/p/output/' } },
      timeoutDurationInHours: 24,
    };
    const converse = { messages: [{ role: 'user', content: [{ text: 'hi' }] }], toolConfig: { tools: [] } };
    const lines = Array.from({ length: 100 }, (_, index) => JSON.stringify({ recordId: `R${index}`, modelInput: converse }));
    expect(batchContractProblems({ request, lines })[0]).toMatch(/toolConfig in a Converse job fails with a 400 error/u);
    const native = {
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 10,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }],
    };
    const problems = batchContractProblems({
      request: { ...request, modelInvocationType: 'InvokeModel', timeoutDurationInHours: 12 },
      lines: [JSON.stringify({ recordId: 'slot/1', modelInput: native })],
    });
    expect(problems).toEqual([
      'timeoutDurationInHours 12 is not a whole number from 24 to 168',
      '1 records: a job needs at least 100',
      'record 1: recordId "slot/1" is not alphanumeric',
      'record 1: cache_control block in a batch record',
    ]);
  });
});
