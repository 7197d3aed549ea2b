import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListMapRunsCommand,
  ListStateMachinesCommand,
  ListTagsForResourceCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../orchestrator/src/cli/main.ts';
import { ROOT } from '../support/run-cli.ts';

const sfn = mockClient(SFNClient);
const s3 = mockClient(S3Client);
const autoScaling = mockClient(AutoScalingClient);
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:raiden-generation';

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    streams: {
      stdout: { write: (text: string) => (out.stdout += text) },
      stderr: { isTTY: false, write: (text: string) => (out.stderr += text) },
    },
  };
}
const body = (value: unknown) => ({ Body: { transformToString: async () => JSON.stringify(value) } }) as never;
const bodyText = (text: string) => ({ Body: Readable.from([Buffer.from(text)]) }) as never;

beforeEach(() => {
  sfn.reset();
  s3.reset();
  autoScaling.reset();
  sfn.on(ListStateMachinesCommand).resolves({
    stateMachines: [{ name: 'other', stateMachineArn: 'x' } as never, { name: 'raiden-generation', stateMachineArn: MACHINE } as never],
  });
  sfn.on(ListTagsForResourceCommand).resolves({
    tags: [
      { key: 'raiden:inputs-bucket', value: 'in-bucket' },
      { key: 'raiden:outputs-bucket', value: 'out-bucket' },
    ],
  });
});

describe('raiden start', () => {
  it('uploads a local profile file, starts an execution with the given flags, and prints the console link', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:my-run` });
    s3.on(PutObjectCommand).resolves({});
    const { out, streams } = io();
    const code = await main(
      [
        'start',
        '--region',
        'eu-west-1',
        '--profiles',
        join(ROOT, 'examples/profiles.zh.json'),
        '--samples-per-profile',
        '3',
        '--include-cm',
        '--run-id',
        'my-run',
        '--keep-fleet',
      ],
      streams,
    );
    expect(code).toBe(0);
    const key = s3.commandCalls(PutObjectCommand)[0]?.args[0].input.Key;
    expect(key).toMatch(/^profiles\/profiles\.zh-[0-9a-f]{12}\.json$/);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '')).toEqual({
      profiles: `s3://in-bucket/${key}`,
      samplesPerProfile: 3,
      includeCm: true,
      runId: 'my-run',
      teardown: 'keep',
    });
    // The execution name is new for every start (Step Functions refuses a name used in the last 90 days), so
    // starting the same runId again resumes it.
    const name = sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.name ?? '';
    expect(name).toMatch(/^my-run-\d{8}-\d{6}-[0-9a-f]{6}$/u);
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input).toMatchObject({ stateMachineArn: MACHINE });
    expect(out.stdout).toContain('https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/');
    expect(out.stdout).toContain(`npx raiden status ${name}`);
    expect(out.stdout).toContain('s3://out-bucket/runs/my-run/');
  });

  it('maps the strategy flags of filter and iterative to their input fields', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:it` });
    const { out, streams } = io();
    const args = [
      'start',
      '--region',
      'eu-west-1',
      '--profiles',
      's3://in-bucket/roles.jsonl',
      '--strategy',
      'iterative',
      '--candidates',
      '4',
      '--min-score',
      '8',
      '--judge-model',
      'us.anthropic.claude-haiku-4-5',
      '--seed-profiles',
      '0.2',
      '--evaluate-samples',
      '10',
    ];
    expect(await main(args, streams), out.stderr).toBe(0);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input ?? '')).toEqual({
      profiles: 's3://in-bucket/roles.jsonl',
      strategy: 'iterative',
      candidates: 4,
      minScore: 8,
      judgeModel: 'us.anthropic.claude-haiku-4-5',
      seedProfiles: 0.2,
      evaluateSamples: 10,
    });
  });

  it('asks for a region instead of crashing when none is configured', async () => {
    const saved = {
      AWS_REGION: process.env.AWS_REGION,
      AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION,
      AWS_CONFIG_FILE: process.env.AWS_CONFIG_FILE,
    };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    process.env.AWS_CONFIG_FILE = join(ROOT, 'no-such-aws-config');
    try {
      const { out, streams } = io();
      expect(await main(['start', '--profiles', 's3://in-bucket/roles.jsonl'], streams)).toBe(2);
      expect(out.stderr).toMatch(/no AWS region: pass --region, set AWS_REGION/);
      expect(out.stderr).not.toMatch(/\n\s+at /);
    } finally {
      for (const [key, value] of Object.entries(saved))
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
    }
  });

  it('passes an s3:// URL through and checks the input before starting anything', async () => {
    const { out, streams } = io();
    expect(await main(['start', '--region', 'eu-west-1', '--profiles', 's3://BAD_BUCKET/x'], streams)).toBe(2);
    expect(out.stderr).toMatch(/profiles "s3:\/\/BAD_BUCKET\/x": expected an S3 URL/);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('names a local profiles file that does not exist before asking AWS anything', async () => {
    sfn.on(ListStateMachinesCommand).rejects(Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }));
    const { out, streams } = io();
    expect(await main(['start', '--region', 'eu-west-1', '--profiles', 'no-such-roles.jsonl'], streams)).toBe(2);
    expect(out.stderr).toBe('raiden: cannot read --profiles no-such-roles.jsonl: no such file; give a local file or an s3:// URL\n');
    expect(sfn.calls()).toHaveLength(0);
  });

  it('says how to deploy when the state machine is missing', async () => {
    sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [] });
    const { out, streams } = io();
    expect(await main(['start', '--region', 'eu-west-1', '--profiles', 's3://in-bucket/x.json'], streams)).toBe(2);
    expect(out.stderr).toContain('no state machine raiden-generation in eu-west-1: deploy the stacks first (npx raiden deploy)');
  });
});

describe('raiden status', () => {
  it('shows batches and samples until the run ends, then the summary; exit 0 when complete', async () => {
    const execution = `${MACHINE.replace(':stateMachine:', ':execution:')}:run-1`;
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce({
        executionArn: execution,
        name: 'run-1',
        status: 'RUNNING',
        input: '{"profiles":"s3://in-bucket/x"}',
        startDate: new Date(),
      } as never)
      .resolves({
        executionArn: execution,
        name: 'run-1',
        status: 'SUCCEEDED',
        input: '{}',
        output: JSON.stringify({ status: 'complete', accepted: 9, slots: 9, emptySlots: 0, failedBatches: 0 }),
        startDate: new Date(),
      } as never);
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [{ mapRunArn: 'map-run' } as never] });
    sfn.on(DescribeMapRunCommand).resolves({ itemCounts: { succeeded: 2, failed: 0, total: 3 } } as never);
    s3.on(GetObjectCommand, { Key: 'runs/run-1/plan.json' }).resolves(body({ batches: { total: 3 }, slots: { total: 9 } }));
    s3.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: 'a' }, { Key: 'b' }, { Key: 'c' }, { Key: 'd' }, { Key: 'e' }, { Key: 'f' }],
    });
    const { out, streams } = io();
    expect(await main(['status', 'run-1', '--region', 'eu-west-1', '--interval', '0.01'], streams)).toBe(0);
    expect(out.stderr).toContain('[raiden] RUNNING | batches 2/3 | samples accepted 6/9');
    expect(out.stdout).toMatch(/samples accepted\s+9 of 9 slots/);
    expect(out.stdout).toContain('s3://out-bucket/runs/run-1/');
  });

  it('--json prints status, progress, cost so far and projected, and the report link, once', async () => {
    const execution = `${MACHINE.replace(':stateMachine:', ':execution:')}:run-3`;
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: execution,
      name: 'run-3',
      status: 'SUCCEEDED',
      input: '{}',
      startDate: new Date(Date.now() - 3_600_000),
      stopDate: new Date(),
    } as never);
    s3.on(GetObjectCommand, { Key: 'runs/run-3/plan.json' }).resolves(body({ batches: { total: 1 }, slots: { total: 4 }, instances: 1 }));
    s3.on(ListObjectsV2Command, { Prefix: 'runs/run-3/parts/samples/' }).resolves({ Contents: [{ Key: 'a' }, { Key: 'b' }] });
    s3.on(ListObjectsV2Command, { Prefix: 'runs/run-3/parts/events/' }).resolves({
      Contents: [{ Key: 'runs/run-3/parts/events/b0/w/0.jsonl' }],
    });
    const event = (slot: string) =>
      JSON.stringify({
        at: new Date().toISOString(),
        writer: 'w',
        type: 'accepted',
        slot,
        kind: 'SBK',
        backend: 'bedrock',
        model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
        attempt: 1,
        usage: { input_tokens: 1_000_000, output_tokens: 0 },
      });
    s3.on(GetObjectCommand, { Key: 'runs/run-3/parts/events/b0/w/0.jsonl' }).resolves(
      bodyText(`${event('p/SBK/0')}\n${event('p/SBK/1')}\n`),
    );
    s3.on(HeadObjectCommand, { Key: 'runs/run-3/report.html' }).resolves({});
    const { out, streams } = io();
    // Signing a link needs credentials, not a network: test ones.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' });
    try {
      expect(await main(['status', 'run-3', '--region', 'eu-west-1', '--json'], streams), out.stderr).toBe(0);
    } finally {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    }
    const status = JSON.parse(out.stdout) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(status).toMatchObject({ run_id: 'run-3', status: 'SUCCEEDED', batches: { total: 1 }, samples: { accepted: 2, slots: 4 } });
    // Two million input tokens of Sonnet at $3 per million; the projection doubles it for the four slots.
    expect(status.cost).toEqual({ usd_so_far: 6, projected_usd: 12, unpriced_models: [] });
    expect(status.report_html).toMatch(
      /^https:\/\/out-bucket\.s3\.eu-west-1\.amazonaws\.com\/runs\/run-3\/report\.html\?.*X-Amz-Signature=/u,
    );
  });

  it('a failed run: prints the error and how to resume, exit 1', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: 'arn:x',
      name: 'run-2',
      status: 'FAILED',
      error: 'FleetNotReady',
      cause: 'the fleet was not ready',
      input: '{"runId":"kept"}',
    } as never);
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('no'), { name: 'NoSuchKey' }));
    const { out, streams } = io();
    expect(await main(['status', 'run-2', '--region', 'eu-west-1'], streams)).toBe(1);
    expect(out.stderr).toContain('raiden: run kept FAILED: FleetNotReady');
    expect(out.stderr).toContain('start again with "runId": "kept" to resume');
  });
});

describe('raiden teardown', () => {
  it('scales every fleet tagged project=raiden-datagen to zero', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        { AutoScalingGroupName: 'raiden-gpu-fleet', DesiredCapacity: 1, Instances: [{ InstanceId: 'i-1' }] } as never,
        { AutoScalingGroupName: 'dev-gpu-fleet', DesiredCapacity: 0, Instances: [] } as never,
      ],
    });
    autoScaling.on(SetDesiredCapacityCommand).resolves({});
    const { out, streams } = io();
    expect(await main(['teardown', '--region', 'eu-west-1'], streams)).toBe(0);
    expect(autoScaling.commandCalls(DescribeAutoScalingGroupsCommand)[0]?.args[0].input.Filters).toEqual([
      { Name: 'tag:project', Values: ['raiden-datagen'] },
    ]);
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand).map((call) => call.args[0].input)).toEqual([
      { AutoScalingGroupName: 'raiden-gpu-fleet', DesiredCapacity: 0, HonorCooldown: false },
    ]);
    expect(out.stdout).toContain('raiden-gpu-fleet');
    expect(out.stdout).toContain('scaling to zero');
  });
});
