import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { CreateModelInvocationJobCommandInput } from '@aws-sdk/client-bedrock';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../orchestrator/src/cli/main.ts';
import type { ComposedReport } from '../../orchestrator/src/core/report/compose-report.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { startBedrockTestServer, type BedrockTestServer, type BedrockTestServerOptions } from '../../bench/simulated-bedrock/server.ts';
import { batchContractProblems } from '../../orchestrator/src/llm/bedrock-batch-contract.ts';
import { fakeBatchService, type BatchJobOutcome, type FakeBatchOptions } from '../support/fake-bedrock-batch.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { CHARACTEREVAL_PROFILES, readJson, readJsonl } from '../support/run-cli.ts';

// In process, so aws-sdk-client-mock intercepts the BedrockClient the CLI builds; its S3Client reaches
// s3rver through AWS_ENDPOINT_URL_S3, which the SDK honours. s3rver checks the signature: its credentials.
const saved = { ...process.env };
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const BUCKET = 'raiden-batch';
const ROLE = 'arn:aws:iam::123456789012:role/raiden-batch';
type Report = ComposedReport & { bedrock_batch?: Record<string, unknown> };

let s3: LocalS3;
let bedrock: BedrockTestServer | undefined;
let service: ReturnType<typeof fakeBatchService> | undefined;
beforeAll(async () => {
  s3 = await startLocalS3([BUCKET]);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  });
  delete process.env.AWS_PROFILE;
});
afterAll(async () => {
  process.env = saved;
  await s3.close();
});
afterEach(async () => {
  service?.restore();
  await bedrock?.close();
  service = bedrock = undefined;
});

async function raiden(args: readonly string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

/** `raiden generate --backend bedrock` on the 78 CharacterEval profiles (156 SBK slots), on-demand calls to the test server. */
async function generate(out: string, extra: readonly string[], serverOptions: BedrockTestServerOptions = {}) {
  bedrock ??= await startBedrockTestServer(serverOptions);
  const result = await raiden([
    'generate',
    '--profiles',
    CHARACTEREVAL_PROFILES,
    '--backend',
    'bedrock',
    '--bedrock-endpoint',
    bedrock.url,
    '--out',
    out,
    ...extra,
  ]);
  return {
    result,
    read: () => ({
      report: readJson<Report>(join(out, 'report.json')),
      samples: readJsonl<Sample>(join(out, 'samples.jsonl')),
      rejects: readJsonl<RejectRecord>(join(out, 'rejects.jsonl')),
    }),
  };
}

function batchFlags(prefix: string, outcome: BatchJobOutcome, options: FakeBatchOptions = {}): string[] {
  service = fakeBatchService(s3.client, BUCKET, MODEL, outcome, options);
  return ['--bedrock-batch', `s3://${BUCKET}/${prefix}`, '--bedrock-batch-role', ROLE, '--bedrock-batch-poll-seconds', '0.01'];
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-batch-cli-'));
const noStack = (stderr: string) => expect(stderr).not.toMatch(/unexpected error|\n\s+at /u);

describe('raiden generate --bedrock-batch (Bedrock control plane mocked, S3 on s3rver, on-demand Converse on the test server)', () => {
  it('PartiallyCompleted with missing records and an ungrounded answer: every slot accepted, the rest on demand, batch priced at the discount', async () => {
    const out = tempDir();
    // 156 records: the job writes lines for the first 150 only, and record 3 names a keyword the profile lacks.
    const { result, read } = await generate(out, batchFlags('runs/partial', 'PartiallyCompleted', { processOnly: 150, ungrounded: [3] }));
    noStack(result.stderr);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/batch job arn:aws:bedrock:us-east-1:123456789012:model-invocation-job\/job1: Submitted\n/u);
    expect(result.stderr).toMatch(/job1: InProgress\n[\s\S]*job1: PartiallyCompleted\n/u);
    expect(result.stderr).toMatch(/answered 150 of 156 requests \(0 record errors, 6 without output\)/u);

    const { report, samples, rejects } = read();
    expect(new Set(samples.map((s) => s.id)).size).toBe(156);
    expect(report.samples).toMatchObject({ accepted: 156, empty_slots: 0 });
    expect(samples.filter((s) => s.metadata.backend === 'bedrock-batch')).toHaveLength(149);
    // The 6 missing records and the rejected one were answered by the on-demand Bedrock server.
    expect(samples.filter((s) => s.metadata.backend === 'bedrock')).toHaveLength(7);
    // The on-demand calls, and the preflight's one call without a tool before anything was planned.
    expect(bedrock?.stats.byTool).toEqual({ raiden_sbk_sample: 7, '': 1 });
    expect(rejects).toEqual([expect.objectContaining({ backend: 'bedrock-batch', attempt: 1, model: MODEL })]);

    expect(report.bedrock_batch).toEqual({
      s3_uri: `s3://${BUCKET}/runs/partial`,
      jobs: [{ job_arn: expect.stringContaining('model-invocation-job/job1'), status: 'PartiallyCompleted', records: 156 }],
      records: 156,
      answered: 150,
      record_errors: 0,
      missing: 6,
    });
    expect(report.backends['bedrock-batch']).toMatchObject({ samples: 149, rejects: 1 });
    expect(report.backends.bedrock).toMatchObject({ samples: 7, rejects: 0 });
    // 150 batch answers of 900 input and 120 output tokens at $3/$15 per million, half price.
    const batchRow = report.cost.by_model[`bedrock-batch:${MODEL}`];
    expect(batchRow).toMatchObject({
      input_tokens: 150 * 900,
      output_tokens: 150 * 120,
      price: expect.stringContaining('batch inference at 50%'),
    });
    expect(batchRow?.usd).toBeCloseTo((150 * (900 * 3 + 120 * 15)) / 1e6 / 2, 6);
    expect(report.cost.total_usd).toBeCloseTo((batchRow?.usd ?? 0) + (report.cost.by_model[`bedrock:${MODEL}`]?.usd ?? 0), 6);
    expect(result.stdout).toMatch(/bedrock-batch\s+149\s+1\s+0/u);

    const input = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/partial/input/' }));
    expect(input.Contents?.map((object) => object.Key)).toEqual([
      expect.stringMatching(/^runs\/partial\/input\/raiden-charactereval-profiles-[\w-]+-[0-9a-f]{12}-0\.jsonl$/u),
    ]);

    // Run again: nothing is open, so no job is created and the run is complete.
    service?.restore();
    const again = await generate(out, batchFlags('runs/partial', 'Completed'));
    expect(again.result.code).toBe(0);
    expect(service?.calls()).toHaveLength(0);
  });

  it('resumes: only the slots still open go into the batch job', async () => {
    const out = tempDir();
    // On demand first: after the preflight (request 1), only 30 answers are grounded, so 126 slots stay empty (exit 3).
    const first = await generate(out, ['--max-attempts', '1'], { fault: (n) => (n > 31 ? 'ungrounded' : undefined) });
    expect(first.result.code).toBe(3);
    expect(first.read().samples).toHaveLength(30);
    const { result, read } = await generate(out, batchFlags('runs/resume', 'Completed'));
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/--bedrock-batch: 126 requests/u);
    expect(read().report.bedrock_batch).toMatchObject({ records: 126, answered: 126, missing: 0 });
    expect(read().samples.filter((s) => s.metadata.backend === 'bedrock-batch')).toHaveLength(126);
  });

  it('a Failed job or an S3 error ends the run with the service message and what to check, no stack trace', async () => {
    const { result } = await generate(tempDir(), batchFlags('runs/failed', 'Failed'));
    expect(result.code).toBe(2);
    noStack(result.stderr);
    expect(result.stderr).toMatch(
      /raiden: Bedrock batch job arn:\S+\/job1 failed: The role cannot read the input bucket\.\nCheck that s3:\/\/raiden-batch\/runs\/failed is in us-east-1.*without --bedrock-batch/u,
    );
    service?.restore();

    const missing = await generate(tempDir(), [...batchFlags('p', 'Completed'), '--bedrock-batch', 's3://no-such-bucket/p']);
    expect(missing.result.code).toBe(2);
    noStack(missing.result.stderr);
    expect(missing.result.stderr).toMatch(
      /raiden: Bedrock batch inference did not finish: NoSuchBucket: .*\nCheck that s3:\/\/no-such-bucket\/p is in us-east-1/u,
    );
  });

  it('usage errors: other strategies, no role, stray companions, not an S3 URI, a model without a native batch format', async () => {
    // The Bedrock preflight runs before the open slots are counted: it needs an endpoint that answers.
    bedrock = await startBedrockTestServer();
    const base = ['generate', '--profiles', CHARACTEREVAL_PROFILES, '--bedrock-endpoint', bedrock.url, '--out', tempDir()];
    const cases: [string[], RegExp][] = [
      [
        ['--bedrock-batch', 's3://bucket/p', '--bedrock-batch-role', ROLE],
        /--bedrock-batch works only with --strategy bedrock, not with --strategy sglang/u,
      ],
      [
        ['--strategy', 'tiered', '--bedrock-batch', 's3://bucket/p', '--bedrock-batch-role', ROLE],
        /--bedrock-batch works only with --strategy bedrock, not with --strategy tiered/u,
      ],
      [
        ['--backend', 'bedrock', '--bedrock-batch', 's3://bucket/p'],
        /--bedrock-batch needs --bedrock-batch-role ARN: the service role Bedrock assumes/u,
      ],
      [
        ['--backend', 'bedrock', '--bedrock-batch-role', ROLE, '--bedrock-batch-timeout-hours', '48'],
        /--bedrock-batch-role, --bedrock-batch-timeout-hours only apply with --bedrock-batch/u,
      ],
      [
        ['--backend', 'bedrock', '--bedrock-batch', 'bucket/prefix', '--bedrock-batch-role', ROLE],
        /is not an S3 location: give s3:\/\/bucket\/prefix/u,
      ],
      [['--backend', 'bedrock', '--bedrock-batch', 's3://bucket/p', '--bedrock-batch-role', 'raiden-batch'], /is not an IAM role ARN/u],
      [
        ['--backend', 'bedrock', '--bedrock-batch', 's3://bucket/p', '--bedrock-batch-role', ROLE, '--bedrock-batch-timeout-hours', '12'],
        /'--bedrock-batch-timeout-hours <n>' argument '12' is invalid\. expected a number from 24 to 168/u,
      ],
      [
        [
          '--backend',
          'bedrock',
          '--bedrock-model',
          'us.amazon.nova-pro-v1:0',
          '--bedrock-batch',
          's3://bucket/p',
          '--bedrock-batch-role',
          ROLE,
        ],
        /--bedrock-batch: batch records are written in Anthropic's native InvokeModel format, and us\.amazon\.nova-pro-v1:0 is not an Anthropic model/u,
      ],
    ];
    service = fakeBatchService(s3.client, BUCKET, MODEL, 'Completed');
    for (const [flags, message] of cases) {
      const result = await raiden([...base, ...flags]);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      noStack(result.stderr);
    }
    expect(service.calls()).toHaveLength(0);
  });

  it('fewer than 100 open slots: the run generates them on demand and report.json says why batch inference was skipped', async () => {
    const out = tempDir();
    const { result, read } = await generate(out, [...batchFlags('runs/small', 'Completed'), '--max-profiles', '10']);
    expect(result.code).toBe(0);
    noStack(result.stderr);
    expect(result.stderr).toMatch(
      /--bedrock-batch: 20 open slots, fewer than the 100 records Bedrock batch inference needs per job: they ran on demand/u,
    );
    expect(service?.calls()).toHaveLength(0);
    const { report, samples } = read();
    expect(report.bedrock_batch).toEqual({
      s3_uri: `s3://${BUCKET}/runs/small`,
      records: 20,
      jobs: [],
      skipped: '20 open slots, fewer than the 100 records Bedrock batch inference needs per job: they ran on demand',
    });
    expect(samples.filter((s) => s.metadata.backend === 'bedrock')).toHaveLength(20);
  });

  it('--dry-run with --bedrock-batch shows the batch estimate row and previews the exact job request and records, checked against the documented rules', async () => {
    const flags = ['--backend', 'bedrock', '--bedrock-batch', 's3://bucket/p', '--bedrock-batch-role', ROLE, '--dry-run'];
    const out = tempDir();
    const full = await raiden(['generate', '--profiles', CHARACTEREVAL_PROFILES, '--out', out, ...flags]);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/Bedrock batch inference\s+the same calls\s+hours, up to 24 h\s+\$[\d.]+/u);
    expect(full.stdout).toMatch(/--bedrock-batch: the "Bedrock batch inference" row applies/u);
    expect(full.stdout).toMatch(/--bedrock-batch: 1 job\(s\) of 156 records previewed in .*bedrock-batch-preview/u);
    const preview = join(out, 'bedrock-batch-preview');
    const request = readJson<CreateModelInvocationJobCommandInput>(join(preview, 'job.json'));
    expect(readdirSync(preview).sort()).toEqual(['job.json', `${request.jobName}.jsonl`]);
    const lines = readFileSync(join(preview, `${request.jobName}.jsonl`), 'utf8').split('\n');
    expect(batchContractProblems({ request, lines })).toEqual([]);
    expect(request).toMatchObject({
      modelId: MODEL,
      modelInvocationType: 'InvokeModel',
      roleArn: ROLE,
      timeoutDurationInHours: 24,
      inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://bucket/p/input/${request.jobName}.jsonl`, s3InputFormat: 'JSONL' } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: 's3://bucket/p/output/' } },
    });
    const record = JSON.parse(lines[0]!) as { recordId: string; modelInput: Record<string, unknown> };
    expect(record.modelInput).toMatchObject({
      anthropic_version: 'bedrock-2023-05-31',
      tool_choice: { type: 'tool', name: 'raiden_sbk_sample' },
      tools: [{ name: 'raiden_sbk_sample', input_schema: expect.objectContaining({ type: 'object' }) }],
    });
    expect(lines[0]).not.toMatch(/cache_control|cachePoint|toolConfig/u);

    const small = await raiden(['generate', '--profiles', CHARACTEREVAL_PROFILES, '--out', tempDir(), '--max-profiles', '10', ...flags]);
    expect(small.stdout).toMatch(/--bedrock-batch: this plan has 20 slots, fewer than the 100 records .* on demand/u);
  });
});
