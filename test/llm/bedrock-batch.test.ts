import { BedrockClient } from '@aws-sdk/client-bedrock';
import type { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
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
  BatchPrefetchBackend,
  requestKey,
  runBatchJobs,
  splitIntoJobs,
  type BatchJobOptions,
} from '../../orchestrator/src/llm/bedrock-batch.ts';
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
