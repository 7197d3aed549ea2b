import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { handler as generateBatch, STOP_MARGIN_MS } from '../../orchestrator/src/handlers/generate-batch.ts';
import { resetAwsClients } from '../../orchestrator/src/handlers/handler-env.ts';
import { handler as plan } from '../../orchestrator/src/handlers/plan.ts';
import type { BatchEvent, BatchResult } from '../../orchestrator/src/contract/workflow-payloads.ts';
import { runStore } from '../../orchestrator/src/handlers/run-files.ts';
import { collect } from '../support/collect.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { ROOT } from '../support/run-cli.ts';

const autoScaling = mockClient(AutoScalingClient);
const ec2 = mockClient(EC2Client);
let s3: LocalS3;
let sglang: TestServer;
let saved: NodeJS.ProcessEnv;
let logs: Record<string, unknown>[];

beforeAll(async () => {
  saved = { ...process.env };
  s3 = await startLocalS3(['raiden-in-batch', 'raiden-out-batch']);
  sglang = await startTestServer({ latencyMs: 20 });
  await s3.client.send(
    new PutObjectCommand({ Bucket: 'raiden-in-batch', Key: 'roles.json', Body: readFileSync(join(ROOT, 'examples/profiles.zh.json')) }),
  );
  Object.assign(process.env, {
    RAIDEN_OUTPUTS_BUCKET: 'raiden-out-batch',
    RAIDEN_S3_ENDPOINT: s3.endpoint,
    RAIDEN_ASG_NAME: 'raiden-gpu-fleet',
    RAIDEN_SERVERS: JSON.stringify([{ name: 'main', port: Number(new URL(sglang.url).port), model: 'test-model', dp: 1 }]),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  });
  delete process.env.RAIDEN_API_KEY_SECRET_ARN;
  resetAwsClients();
});
afterAll(async () => {
  process.env = saved;
  resetAwsClients();
  await sglang.close();
  await s3.close();
});
beforeEach(() => {
  autoScaling.reset();
  ec2.reset();
  autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: 'raiden-gpu-fleet',
        DesiredCapacity: 1,
        Instances: [{ InstanceId: 'i-1', LifecycleState: 'InService' }],
      } as never,
    ],
  });
  ec2
    .on(DescribeInstancesCommand)
    .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', PrivateIpAddress: '127.0.0.1', State: { Name: 'running' } }] }] });
  logs = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(JSON.parse(String(line)) as Record<string, unknown>));
});

describe('GenerateBatch', () => {
  it('stops near the Lambda deadline with BatchIncomplete, and the retry resumes without regenerating', async () => {
    // Prepare: one batch of 9 slots, and a Lambda that has time for only a few of them.
    const planned = await plan({
      input: { profiles: 's3://raiden-in-batch/roles.json', samplesPerProfile: 2, includeCm: true, batchSlots: 9 },
      execution: { id: 'arn:exec:deadline', name: 'deadline', startTime: new Date().toISOString() },
    });
    expect(planned).toMatchObject({ batches: 1, slots: 9, needsSglang: true });
    const event: BatchEvent = { runId: 'deadline', batch: { batchId: 'b00000', key: '', backend: 'sglang', slots: 9, profiles: 3 } };
    let calls = 0;
    const shortLived = { awsRequestId: 'first', getRemainingTimeInMillis: () => (++calls > 3 ? STOP_MARGIN_MS - 1 : 900_000) };

    // Act / Assess: the first invocation stops taking slots once the deadline nears.
    await expect(generateBatch(event, shortLived)).rejects.toMatchObject({
      name: 'BatchIncomplete',
      message: expect.stringContaining('a retry resumes'),
    });
    const store = runStore(s3.client, 'deadline', 'b00000');
    const firstIds = (await collect(store.readSamples())).map((s) => s.id);
    expect(firstIds.length).toBeGreaterThan(0);
    expect(firstIds.length).toBeLessThan(9);
    const requestsAfterFirst = sglang.stats.chatRequests;

    const output = await generateBatch(event, { awsRequestId: 'second', getRemainingTimeInMillis: () => 900_000 });
    expect(output).toEqual({ batchId: 'b00000', accepted: 9, emptySlots: 0, slots: 9 });
    expect(sglang.stats.chatRequests - requestsAfterFirst).toBe(9 - firstIds.length);
    const results = await collect(runStore(s3.client, 'deadline').listJson<BatchResult>('parts/results/'));
    expect(results.map((r) => [r.stopped ?? 'done', r.alreadyDone + r.accepted])).toEqual([
      ['deadline', firstIds.length],
      ['done', 9],
    ]);
  });

  it('logs JSON lines with run and batch ids and emits the run metrics in EMF', async () => {
    await plan({
      input: { profiles: 's3://raiden-in-batch/roles.json', samplesPerProfile: 1, batchSlots: 10 },
      execution: { id: 'arn:exec:logs', name: 'logs', startTime: new Date().toISOString() },
    });
    await generateBatch(
      { runId: 'logs', batch: { batchId: 'b00000', key: '', backend: 'sglang', slots: 3, profiles: 3 } },
      { awsRequestId: 'x', getRemainingTimeInMillis: () => 900_000 },
    );
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'batch invocation done',
        handler: 'generate-batch',
        runId: 'logs',
        batchId: 'b00000',
        accepted: 3,
      }),
    );
    const emf = logs.find((line) => '_aws' in line);
    expect(emf).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'Raiden',
            Dimensions: [['RunId'], []],
            Metrics: expect.arrayContaining([
              { Name: 'SamplesAccepted', Unit: 'Count' },
              { Name: 'BackendErrors', Unit: 'Count' },
            ]),
          },
        ],
      },
      RunId: 'logs',
      SamplesAccepted: 3,
      Requests: 3,
      BackendErrors: 0,
    });
  });

  it('refuses to reuse a run id with other plan settings, naming them', async () => {
    const execution = { id: 'arn:exec:reuse', name: 'reuse', startTime: new Date().toISOString() };
    await plan({ input: { profiles: 's3://raiden-in-batch/roles.json', runId: 'reused' }, execution });
    await expect(
      plan({ input: { profiles: 's3://raiden-in-batch/roles.json', runId: 'reused', samplesPerProfile: 5 }, execution }),
    ).rejects.toMatchObject({
      name: 'InvalidInput',
      message: expect.stringMatching(
        /run reused already holds a run with other settings[\s\S]*samplesPerProfile: the run used 2, this run asks for 5/,
      ),
    });
    await expect(plan({ input: { profiles: 's3://raiden-in-batch/missing.json' }, execution })).rejects.toThrow(
      /profiles s3:\/\/raiden-in-batch\/missing\.json: no such object/,
    );
  });
});
