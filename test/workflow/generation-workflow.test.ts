/**
 * The synthesized generation workflow, executed on this machine: aws-local-stepfunctions runs the state
 * machine from the orchestrator stack's template, its Lambda Tasks bound to the real handlers, S3 served
 * by s3rver through @aws-sdk/client-s3, SGLang by the simulated server, Auto Scaling / EC2 / Step Functions
 * by aws-sdk-client-mock.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateModelInvocationJobCommand } from '@aws-sdk/client-bedrock';
import aslValidator from 'asl-validator';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startBedrockTestServer, type BedrockFault, type BedrockTestServer } from '../../bench/simulated-bedrock/server.ts';
import { startTestServer, type TestServer } from '../../bench/simulated-sglang/server.ts';
import { runExport } from '../../orchestrator/src/cli/export-command.ts';
import { RESPONSE_CACHE_ENV } from '../../orchestrator/src/contract/response-cache.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { batchWaitSeconds, fittedJobTimeoutHours } from '../../orchestrator/src/handlers/batch-inference.ts';
import { parseWorkflowSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { resetAwsClients } from '../../orchestrator/src/handlers/handler-env.ts';
import { synthApp } from '../support/cdk-app.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import {
  applyFunctionEnvironment,
  extractWorkflow,
  forEachState,
  runWorkflowLocally,
  type LocalRunResult,
  type SynthesizedWorkflow,
} from '../support/local-workflow.ts';
import { CHARACTEREVAL_PROFILES, readJson, readJsonl, ROOT, runCli } from '../support/run-cli.ts';
import { fakeBatchService } from '../support/fake-bedrock-batch.ts';
import { chartStates, openReportPage } from '../support/report-page.ts';

const INPUTS = 'raiden-inputs-local';
const OUTPUTS = 'raiden-outputs-local';
const PROFILES_KEY = 'profiles/roles.zh.json';
const PROFILES_FILE = join(ROOT, 'examples/profiles.zh.json');
const BASE_INPUT = { profiles: `s3://${INPUTS}/${PROFILES_KEY}`, samplesPerProfile: 2, includeCm: true, maxProfiles: 3, batchSlots: 3 };

const autoScaling = mockClient(AutoScalingClient);
const ec2 = mockClient(EC2Client);
const sfn = mockClient(SFNClient);

let workflow: SynthesizedWorkflow;
let s3: LocalS3;
let sglang: TestServer;
let bedrock: BedrockTestServer;
/** Fault the Bedrock test server answers every sample request with (judge requests are never faulted). */
let bedrockSampleFault: BedrockFault | undefined;
let judgeCalls = 0;
let restoreEnv: () => void;

/** The fake fleet: desired capacity, whether its instance is in service, and what other runs are going. */
const fleet = {
  desired: 0,
  max: 1,
  inServiceAfterChecks: 1,
  describeCalls: 0,
  vanishAfterReady: false,
  readyReported: false,
  otherRunning: false,
  setCalls: [] as number[],
  /** Names of executions DescribeExecution reports as RUNNING. */
  runningExecutions: [] as string[],
};

beforeAll(async () => {
  const app = synthApp();
  workflow = extractWorkflow(app.stacks.orchestrator, app.orchestrator);
  s3 = await startLocalS3([INPUTS, OUTPUTS]);
  sglang = await startTestServer({ model: 'test-model' });
  bedrock = await startBedrockTestServer({
    fault: (_n, _model, body) => (body.toolConfig?.tools?.[0]?.toolSpec?.name === 'raiden_judge_verdict' ? undefined : bedrockSampleFault),
    // Every fourth verdict is below the minimum of 7; the others pass with 8 or 9.
    judge: () => ({ score: ++judgeCalls % 4 === 0 ? 6 : 8 + (judgeCalls % 2), reason: 'simulated verdict' }),
  });
  await s3.client.send(new PutObjectCommand({ Bucket: INPUTS, Key: PROFILES_KEY, Body: readFileSync(PROFILES_FILE) }));
  restoreEnv = applyFunctionEnvironment(workflow, {
    RAIDEN_OUTPUTS_BUCKET: OUTPUTS,
    RAIDEN_S3_ENDPOINT: s3.endpoint,
    RAIDEN_SERVERS: JSON.stringify([{ name: 'main', port: Number(new URL(sglang.url).port), model: 'test-model', dp: 1 }]),
    RAIDEN_API_KEY_SECRET_ARN: undefined,
    RAIDEN_BEDROCK_ENDPOINT: bedrock.url,
    // The stack's batch service role, as a deployment would give its ARN.
    RAIDEN_BEDROCK_BATCH_ROLE_ARN: 'arn:aws:iam::000000000000:role/raiden-batch-inference',
    // Off for the tests that count calls and inject backend failures; its own describe turns it on as the stack sets it.
    [RESPONSE_CACHE_ENV]: undefined,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  });
  resetAwsClients();
});

afterAll(async () => {
  restoreEnv?.();
  resetAwsClients();
  await sglang?.close();
  await bedrock?.close();
  await s3?.close();
});

beforeEach(() => {
  bedrockSampleFault = undefined;
  Object.assign(fleet, {
    desired: 0,
    max: 1,
    inServiceAfterChecks: 1,
    describeCalls: 0,
    vanishAfterReady: false,
    readyReported: false,
    otherRunning: false,
    setCalls: [],
    runningExecutions: [],
  });
  autoScaling.reset();
  ec2.reset();
  sfn.reset();
  autoScaling.on(DescribeAutoScalingGroupsCommand).callsFake(() => {
    fleet.describeCalls++;
    const inService = fleet.desired > 0 && fleet.describeCalls > fleet.inServiceAfterChecks;
    return {
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'raiden-gpu-fleet',
          DesiredCapacity: fleet.desired,
          MinSize: 0,
          MaxSize: fleet.max,
          Instances: fleet.desired > 0 ? [{ InstanceId: 'i-0123456789abcdef0', LifecycleState: inService ? 'InService' : 'Pending' }] : [],
        },
      ],
    };
  });
  autoScaling.on(SetDesiredCapacityCommand).callsFake((input: { DesiredCapacity: number }) => {
    fleet.setCalls.push(input.DesiredCapacity);
    fleet.desired = input.DesiredCapacity;
    return {};
  });
  ec2.on(DescribeInstancesCommand).callsFake(() => {
    const gone = fleet.vanishAfterReady && fleet.readyReported;
    fleet.readyReported = true;
    return {
      Reservations: [
        {
          Instances: [
            { InstanceId: 'i-0123456789abcdef0', PrivateIpAddress: '127.0.0.1', State: { Name: gone ? 'terminated' : 'running' } },
          ],
        },
      ],
    };
  });
  // Earlier executions of a run id have ended (a resume); a test that needs one still running says so.
  sfn.on(DescribeExecutionCommand).callsFake((input: { executionArn: string }) => ({
    executionArn: input.executionArn,
    status: fleet.runningExecutions.includes(input.executionArn.split(':').pop() ?? '') ? 'RUNNING' : 'SUCCEEDED',
  }));
  sfn.on(ListExecutionsCommand).callsFake(() => ({
    executions: [
      { executionArn: 'arn:aws:states:us-east-1:000000000000:execution:raiden-generation:this', status: 'RUNNING' },
      ...(fleet.otherRunning
        ? [{ executionArn: 'arn:aws:states:us-east-1:000000000000:execution:raiden-generation:other', status: 'RUNNING' }]
        : []),
    ],
  }));
});

afterEach(() => vi.restoreAllMocks());

/** The handlers' structured log lines and EMF records of the current test. */
let logLines: Record<string, unknown>[] = [];
beforeEach(() => {
  logLines = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
    logLines.push(JSON.parse(String(line)) as Record<string, unknown>);
  });
});

const run = (input: unknown, executionName: string, inject?: Record<string, Error>): Promise<LocalRunResult> =>
  runWorkflowLocally({ workflow, s3: s3.client, input, executionName, ...(inject ? { inject } : {}) });

/**
 * A report without what differs by front door for the same run: times and what is derived from them
 * (throughput, GPU hours and their cost, the estimate's hours at each door's concurrency), the run's
 * name and file location, the workflow's own section, and the invocations (each batch of the workflow
 * writes as one).
 */
function comparable(report: Record<string, unknown>): unknown {
  const copy = structuredClone(report) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const key of [
    'run_id',
    'started_at',
    'finished_at',
    'wall_time_s',
    'run_time_s',
    'this_invocation',
    'invocations',
    'throughput',
    'workflow',
  ])
    delete copy[key];
  delete copy.input.file;
  delete copy.estimate.bedrock.hours;
  delete copy.cost.sglang;
  delete copy.cost.total_usd;
  delete copy.backends.sglang.usd;
  return copy;
}

async function readRunFile(runId: string, name: string): Promise<string> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: OUTPUTS, Key: `runs/${runId}/${name}` }));
  return (await object.Body?.transformToString()) ?? '';
}

const DATASET_CONTRACT = ['samples.jsonl', 'rejects.jsonl', 'train.json', 'validation.json', 'dataset_stats.json', 'report.json'];

/** The run's dataset files as Finalize wrote them. */
async function readDataset(runId: string) {
  const keys = (
    (await s3.client.send(new ListObjectsV2Command({ Bucket: OUTPUTS, Prefix: `runs/${runId}/`, Delimiter: '/' }))).Contents ?? []
  ).map((o) => o.Key?.split('/').pop());
  const lines = async <T>(name: string) =>
    (await readRunFile(runId, name))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as T);
  return {
    keys,
    samples: await lines<Sample>('samples.jsonl'),
    rejects: await lines<RejectRecord>('rejects.jsonl'),
    report: JSON.parse(await readRunFile(runId, 'report.json')) as Record<string, unknown> & {
      backends: Record<string, { samples: number; rejects: number; review_calls: number }>;
    },
  };
}

describe('the synthesized definition', () => {
  it('is valid Amazon States Language', () => {
    const { isValid, errorsText } = aslValidator(workflow.definition);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('has the shape of DESIGN.md section 5', () => {
    const states = workflow.definition.States;
    expect(workflow.definition.StartAt).toBe('Start');
    expect(Object.keys(states)).toEqual(
      expect.arrayContaining([
        'Start',
        'Plan',
        'Run',
        'TeardownRequested',
        'OtherExecutions',
        'OthersRunning',
        'FleetDown',
        'Outcome',
        'RunFailed',
        'FleetDownFailed',
        'Succeeded',
      ]),
    );
    const branch = (states.Run?.Branches as unknown as { States: Record<string, Record<string, unknown>> }[])[0];
    expect(Object.keys(branch?.States ?? {})).toEqual(
      expect.arrayContaining([
        'NeedsFleet',
        'FleetUp',
        'WaitForFleet',
        'FleetStatus',
        'FleetReady',
        'SeedPhase',
        'Seed',
        'HasBatches',
        'BatchInference',
        'SubmitBatchJobs',
        'WaitForBatchJobs',
        'BatchJobsStatus',
        'BatchJobsDone',
        'CollectBatchResults',
        'Generate',
        'Finalize',
      ]),
    );
    // iterative: the seed batches run in their own Distributed Map, which leads on to Generate.
    expect(branch?.States.Seed).toMatchObject({
      Next: 'BatchInference',
      ItemReader: { Parameters: { 'Key.$': '$.plan.seedManifestKey' } },
      MaxConcurrencyPath: '$.plan.seedMaxConcurrency',
    });
    const map = branch?.States.Generate as Record<string, unknown>;
    expect(map).toMatchObject({
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSONL' },
        Parameters: { 'Bucket.$': '$.plan.bucket', 'Key.$': '$.plan.manifestKey' },
      },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      MaxConcurrencyPath: '$.plan.maxConcurrency',
      ToleratedFailurePercentagePath: '$.plan.toleratedFailurePercent',
      ResultWriter: expect.objectContaining({ Resource: 'arn:aws:states:::s3:putObject' }),
    });
    const generateBatch = (map.ItemProcessor as { States: Record<string, { Retry: { ErrorEquals: string[] }[] }> }).States.GenerateBatch;
    expect(generateBatch?.Retry.map((retry) => retry.ErrorEquals[0])).toEqual(
      expect.arrayContaining(['BatchIncomplete', 'BackendUnavailable']),
    );
  });

  it('every state inside Run is covered by its Catch, and Plan joins the same teardown', () => {
    const states = workflow.definition.States;
    expect(states.Run?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'TeardownRequested' }]);
    expect(states.Plan?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'TeardownRequested' }]);
    // No state inside Run catches an error itself: every failure propagates to Run's Catch.
    const inside: string[] = [];
    for (const branch of states.Run?.Branches as never as Parameters<typeof forEachState>[0][]) {
      forEachState(branch, (name, state) => {
        inside.push(name);
        expect(state.Catch, `${name} must not catch errors inside Run`).toBeUndefined();
        expect(state.Type, `${name} must not end the execution from inside Run`).not.toBe('Succeed');
      });
    }
    expect(inside).toEqual(
      expect.arrayContaining(['FleetUp', 'FleetStatus', 'Seed', 'SeedBatch', 'Generate', 'GenerateBatch', 'Finalize']),
    );
    // Every path out of the teardown reaches Outcome, which alone decides between Fail and Succeed.
    expect(states.FleetDown?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.fleetDownError', Next: 'Outcome' }]);
    expect(states.RunFailed).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
  });
});

describe('the workflow outlives a batch job, and the fleet is raised for Generate only', () => {
  const branch = () =>
    (workflow.definition.States.Run?.Branches as unknown as { StartAt: string; States: Record<string, Record<string, unknown>> }[])[0]!;

  it('the wait loops stay inside the history quota for the largest settings, and the job ends before the execution times out', () => {
    // Counted from the synthesized state machine and the documented event types, not from the handler's constants:
    // a state that runs once without failing adds these events (Task: entered, scheduled, started, succeeded,
    // exited; a Distributed Map also starts and ends its Map Run), and a failed attempt that is retried adds
    // three (scheduled, started, failed). https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
    const eventsPerState: Record<string, number> = { Pass: 2, Wait: 2, Choice: 2, Task: 5, Parallel: 4, Map: 6, Succeed: 2, Fail: 1 };
    // A Standard execution fails when its history reaches this many events, and runs for at most a year:
    // https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
    const historyQuota = 25_000;
    const longestExecutionSeconds = 365 * 24 * 3600;
    type State = {
      Type: string;
      Next?: string;
      Default?: string;
      Seconds?: number;
      TimeoutSeconds?: number;
      Retry?: { MaxAttempts?: number }[];
    };
    const top = workflow.definition as unknown as { TimeoutSeconds: number; States: Record<string, State> };
    const { States } = branch() as unknown as { States: Record<string, State> };
    const events = (name: string) => eventsPerState[States[name]?.Type ?? top.States[name]?.Type ?? ''] ?? Number.NaN;
    /** The states of the loop that `start` begins, following Next and each Choice's Default back to `start`. */
    const loop = (start: string): string[] => {
      const names = [start];
      for (let name = States[start]?.Next; name !== start;) {
        names.push(name!);
        const state = States[name!];
        name = state?.Next ?? state?.Default;
        if (names.length > 10) throw new Error(`${start} does not loop back`);
      }
      return names;
    };
    const batchLoop = loop('WaitForBatchJobs');
    const fleetLoop = loop('WaitForFleet');
    expect(batchLoop).toEqual(['WaitForBatchJobs', 'BatchJobsStatus', 'BatchJobsDone']);
    const passEvents = (names: string[]) => names.reduce((sum, name) => sum + events(name), 0);
    // Every other state runs at most once, each of its retries spent, plus the execution's start and end.
    const retried = (state: State) => 3 * (state.Retry ?? []).reduce((sum, retry) => sum + (retry.MaxAttempts ?? 3), 0);
    const once =
      2 +
      [...Object.entries(top.States), ...Object.entries(States)]
        .filter(([name]) => !batchLoop.includes(name) && !fleetLoop.includes(name))
        .reduce((sum, [name, state]) => sum + events(name) + retried(state), 0);

    // The largest settings a run input may give: the most minutes to wait for the fleet, the fastest polls; and the
    // longest job Bedrock accepts (timeoutDurationInHours 24 to 168):
    // https://docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateModelInvocationJob.html
    const longestJobHours = 168;
    const largest = parseWorkflowSpec({
      profiles: 's3://my-inputs/roles.json',
      readinessTimeoutMinutes: 240,
      batchPollSeconds: 10,
    });
    expect(() => parseWorkflowSpec({ profiles: 's3://my-inputs/roles.json', readinessTimeoutMinutes: 241 })).toThrow(
      /readinessTimeoutMinutes/u,
    );
    expect(() => parseWorkflowSpec({ profiles: 's3://my-inputs/roles.json', batchPollSeconds: 9 })).toThrow(/batchPollSeconds/u);
    // FleetStatus fails the run at the readiness deadline: one pass per WaitForFleet, plus the last.
    const fleetPasses = Math.ceil((largest.readinessTimeoutMinutes! * 60) / States.WaitForFleet!.Seconds!) + 1;

    const executionSeconds = top.TimeoutSeconds;
    expect(States.BatchJobsStatus).toMatchObject({
      Parameters: expect.objectContaining({ 'executionStartTime.$': '$$.Execution.StartTime', executionTimeoutSeconds: executionSeconds }),
    });
    expect(States.WaitForBatchJobs).toMatchObject({ SecondsPath: '$.batchJobs.waitSeconds' });
    // The deployed timeout, and a state machine deployed with the longest one Step Functions allows.
    for (const timeoutSeconds of [executionSeconds, longestExecutionSeconds]) {
      // What BatchJobsStatus answers for WaitForBatchJobs; the loop polls, at worst, until the execution times out.
      const waitSeconds = batchWaitSeconds(largest.batchPollSeconds!, timeoutSeconds);
      const batchPasses = Math.ceil(timeoutSeconds / waitSeconds) + 1;
      const worst = once + fleetPasses * passEvents(fleetLoop) + batchPasses * passEvents(batchLoop);
      expect(worst, `${timeoutSeconds} s: ${batchPasses} polls of ${passEvents(batchLoop)} events`).toBeLessThanOrEqual(historyQuota);

      // The job, fitted into what the execution has left, ends early enough for the last poll, collecting and the teardown.
      const start = Date.parse('2026-01-01T00:00:00Z');
      const jobHours = fittedJobTimeoutHours(longestJobHours, start + timeoutSeconds * 1000, start);
      const after =
        ['CollectBatchResults', 'Finalize'].reduce((sum, name) => sum + States[name]!.TimeoutSeconds!, 0) +
        top.States.FleetDown!.TimeoutSeconds!;
      expect(jobHours).toBeDefined();
      expect(jobHours! * 3600 + waitSeconds + after).toBeLessThanOrEqual(timeoutSeconds);
    }
    // The default timeout leaves room for a 24-hour job; a deadline closer than that is refused at submit.
    expect(
      fittedJobTimeoutHours(24, Date.parse('2026-01-01T00:00:00Z') + executionSeconds * 1000, Date.parse('2026-01-01T00:00:00Z')),
    ).toBe(24);
    expect(fittedJobTimeoutHours(168, Date.parse('2026-01-02T00:00:00Z'), Date.parse('2026-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('the fleet comes up after the Bedrock phases, and FleetStatus is the last state before Generate', () => {
    const { StartAt, States } = branch();
    expect(StartAt).toBe('SeedPhase');
    expect(States.Seed?.Next).toBe('BatchInference');
    expect(States.CollectBatchResults?.Next).toBe('NeedsFleet');
    expect(States.BatchInference).toMatchObject({ Default: 'NeedsFleet' });
    expect(States.NeedsFleet).toMatchObject({ Choices: [expect.objectContaining({ Next: 'FleetUp' })], Default: 'HasBatches' });
    expect(States.FleetReady).toMatchObject({ Choices: [expect.objectContaining({ Next: 'HasBatches' })], Default: 'WaitForFleet' });
  });
});

describe('a local run of the workflow', () => {
  it('produces the same dataset contract as raiden generate, then scales the fleet to zero', async () => {
    const result = await run(BASE_INPUT, 'full-run');
    expect(result.error).toBeUndefined();
    expect(result.output).toMatchObject({ runId: 'full-run', status: 'complete', accepted: 9, slots: 9, emptySlots: 0, failedBatches: 0 });
    expect(fleet.setCalls).toEqual([1, 0]);
    expect(result.entered).toEqual(
      expect.arrayContaining([
        'Plan',
        'FleetUp',
        'WaitForFleet',
        'FleetStatus',
        'GenerateBatch',
        'Finalize',
        'OtherExecutions',
        'FleetDown',
        'Succeeded',
      ]),
    );
    expect(result.entered.filter((name) => name === 'GenerateBatch')).toHaveLength(3);

    const keys = (
      (await s3.client.send(new ListObjectsV2Command({ Bucket: OUTPUTS, Prefix: 'runs/full-run/', Delimiter: '/' }))).Contents ?? []
    ).map((o) => o.Key?.split('/').pop());
    const localDir = mkdtempSync(join(tmpdir(), 'raiden-contract-'));
    const local = await runCli([
      'generate',
      '--profiles',
      PROFILES_FILE,
      '--endpoint',
      sglang.url,
      '--samples-per-profile',
      '2',
      '--include-cm',
      '--max-profiles',
      '3',
      '--out',
      localDir,
    ]);
    expect(local.code).toBe(0);
    const contract = ['samples.jsonl', 'rejects.jsonl', 'train.json', 'validation.json', 'dataset_stats.json', 'report.json'];
    expect(keys).toEqual(expect.arrayContaining(contract));

    const samples = (await readRunFile('full-run', 'samples.jsonl'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; metadata: Record<string, unknown> });
    const localSamples = readJsonl<{ id: string; metadata: Record<string, unknown> }>(join(localDir, 'samples.jsonl'));
    expect(samples.map((s) => s.id).sort()).toEqual(localSamples.map((s) => s.id).sort());
    expect(Object.keys(samples[0] ?? {}).sort()).toEqual(Object.keys(localSamples[0] ?? {}).sort());
    const train = JSON.parse(await readRunFile('full-run', 'train.json')) as { id: string }[];
    const validation = JSON.parse(await readRunFile('full-run', 'validation.json')) as { id: string }[];
    expect(train.length + validation.length).toBe(9);
    const profileOf = (id: string) => id.split('/')[0];
    const trainProfiles = new Set(train.map((s) => profileOf(s.id)));
    expect(validation.filter((s) => trainProfiles.has(profileOf(s.id)))).toEqual([]);
    expect(JSON.parse(await readRunFile('full-run', 'dataset_stats.json'))).toEqual(readJson(join(localDir, 'dataset_stats.json')));

    const report = JSON.parse(await readRunFile('full-run', 'report.json')) as Record<string, unknown>;
    const localReport = readJson(join(localDir, 'report.json'));
    // One pipeline behind both front doors: the same run gives the same report, but for times, the run's
    // name and location, and the workflow's own section.
    expect(comparable(report)).toEqual(comparable(localReport));
    expect(report).toMatchObject({
      run_id: 'full-run',
      status: 'complete',
      plan: { profiles: 3, slots: 9, sbk: 6, cm: 3 },
      samples: { accepted: 9, empty_slots: 0 },
      requests: { this_invocation: 9 },
      workflow: { batches: { total: 3, on_sglang: 3, on_bedrock: 0, finished: 3, failed: 0, unfinished_batch_ids: [] } },
    });
  });

  it('resumes a run with the same runId instead of regenerating it', async () => {
    const requestsBefore = sglang.stats.chatRequests;
    const result = await run({ ...BASE_INPUT, runId: 'full-run' }, 'full-run-again');
    expect(result.output, JSON.stringify(result.error)).toMatchObject({ runId: 'full-run', status: 'complete', accepted: 9 });
    expect(sglang.stats.chatRequests).toBe(requestsBefore);
    const report = JSON.parse(await readRunFile('full-run', 'report.json')) as { samples: Record<string, number> };
    expect(report.samples).toMatchObject({ accepted: 9, accepted_this_invocation: 0, already_done_before: 9 });
  });

  it('refuses a second execution for a run id another execution is still writing, naming it', async () => {
    fleet.runningExecutions = ['full-run', 'full-run-again'];
    const result = await run({ ...BASE_INPUT, runId: 'full-run' }, 'full-run-twice');
    expect(result.error?.name).toBe('InvalidInput');
    expect(result.error?.cause).toMatch(/runId full-run is being written by execution \S+:full-run(-again)? since /u);
    expect(result.entered).not.toContain('GenerateBatch');
    expect(result.entered).toContain('FleetDown');
  });

  it('writes the trainer exports the input asks for next to the dataset', async () => {
    const result = await run({ ...BASE_INPUT, runId: 'exported-run', exportFormats: ['verl', 'sft'] }, 'exported-run');
    expect(result.output, JSON.stringify(result.error)).toMatchObject({ runId: 'exported-run', status: 'complete' });
    const keys = (
      (await s3.client.send(new ListObjectsV2Command({ Bucket: OUTPUTS, Prefix: 'runs/exported-run/exports/' }))).Contents ?? []
    ).map((o) => o.Key?.replace('runs/exported-run/exports/', ''));
    expect(keys).toEqual(
      expect.arrayContaining(['verl/train.parquet', 'verl/raiden_reward.py', 'verl/README.md', 'sft/train.jsonl', 'sft/raiden_reward.py']),
    );
    // Finalize streams each data file into a multipart upload; raiden export of the same run writes the same bytes.
    for (const format of ['verl', 'sft'] as const) {
      const out = join(mkdtempSync(join(tmpdir(), 'raiden-workflow-export-')), format);
      const quiet = { write: () => true };
      expect(
        await runExport({ run: `s3://${OUTPUTS}/runs/exported-run`, format, out }, { stdout: quiet, stderr: quiet }, { s3: s3.client }),
      ).toBe(0);
      const dataFiles = readdirSync(out).filter((file) => /^(train|validation)\./u.test(file));
      expect(dataFiles).toContain(format === 'sft' ? 'train.jsonl' : 'train.parquet');
      for (const name of dataFiles) {
        const object = await s3.client.send(new GetObjectCommand({ Bucket: OUTPUTS, Key: `runs/exported-run/exports/${format}/${name}` }));
        const streamed = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
        expect(streamed.equals(readFileSync(join(out, name))), `${format}/${name}`).toBe(true);
      }
    }
    expect(await readRunFile('exported-run', 'profiles.jsonl')).toMatch(/"text":/u);
    // Finalize's report.html, opened from disk in Chromium with the network blocked, as a user opens the link.
    const file = join(mkdtempSync(join(tmpdir(), 'raiden-workflow-report-')), 'report.html');
    writeFileSync(file, await readRunFile('exported-run', 'report.html'));
    const report = await openReportPage(file);
    try {
      expect(report.blocked).toEqual([]);
      expect(report.errors).toEqual([]);
      const charts = await chartStates(report.page);
      expect(charts.length).toBeGreaterThanOrEqual(8);
      for (const chart of charts.filter((state) => state.datasets !== null)) {
        for (const dataset of chart.datasets ?? []) expect(dataset.drawn, `${chart.id}: ${dataset.label}`).toBe(dataset.points);
      }
      expect(await report.page.locator('#browser .slot').count()).toBe(9);
    } finally {
      await report.close();
    }
  });

  it('applies the quality gates the input asks for in every batch (keyword agreement on Bedrock)', async () => {
    const result = await run(
      {
        ...BASE_INPUT,
        runId: 'gated-run',
        keywordAgreementModels: ['bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0'],
        maxAttempts: 1,
      },
      'gated-run',
    );
    expect(result.error, JSON.stringify(result.error)).toBeUndefined();
    const { samples, rejects, report } = await readDataset('gated-run');
    // Every kept sample carries the gate's decision; every gated-out one is a reject with the gate's reason.
    for (const sample of samples) expect(sample.metadata.gates).toMatchObject({ keyword_agreement: { applied: true, passed: true } });
    expect(samples.length + rejects.filter((reject) => reject.reason === 'gate_keyword_agreement').length).toBeGreaterThan(0);
    expect((report as unknown as { strategy: { gates: string[] } }).strategy.gates).toEqual(['keyword_agreement']);
    expect(report.backends.bedrock?.review_calls).toBeGreaterThan(0);
  });

  it('skips the fleet for a Bedrock-only run but still ends in FleetDown', async () => {
    const result = await run({ ...BASE_INPUT, strategy: 'bedrock', samplesPerProfile: 0 }, 'bedrock-plan-only', {
      GenerateBatch: Object.assign(new Error('no Bedrock here'), { name: 'BackendUnavailable' }),
    });
    expect(result.entered).not.toContain('FleetUp');
    expect(result.entered).toContain('FleetDown');
    expect(result.error).toMatchObject({ name: 'BackendUnavailable' });
  });
});

describe('a failure in any state still reaches FleetDown, and the execution fails with the original error', () => {
  it('Plan: a bad input names the field', async () => {
    const result = await run({ ...BASE_INPUT, samplesPerProfile: -1 }, 'bad-input');
    expect(result.error?.name).toBe('InvalidInput');
    expect(result.error?.cause).toContain('samplesPerProfile -1');
    expect(result.entered).toEqual([
      'Start',
      'Plan',
      'TeardownRequested',
      'OtherExecutions',
      'OthersRunning',
      'FleetDown',
      'Outcome',
      'RunFailed',
    ]);
  });

  it('FleetUp: the auto-scaling call fails', async () => {
    autoScaling.on(SetDesiredCapacityCommand).callsFake((input: { DesiredCapacity: number }) => {
      if (input.DesiredCapacity > 0)
        throw Object.assign(new Error('Scaling activity in progress'), { name: 'ScalingActivityInProgressFault' });
      fleet.setCalls.push(0);
      return {};
    });
    Object.assign(fleet, { desired: 1, max: 2 });
    const result = await run({ ...BASE_INPUT, instances: 2 }, 'fleet-up-fails');
    expect(result.error?.name).toBe('ScalingActivityInProgressFault');
    expect(result.entered).toContain('FleetDown');
    expect(fleet.setCalls).toEqual([0]);
  });

  it('readiness: the servers never answer before the timeout', async () => {
    fleet.inServiceAfterChecks = Number.POSITIVE_INFINITY;
    const realNow = Date.now.bind(Date);
    // After the first status check, jump past the readiness deadline instead of waiting the 70 minutes the template sets.
    autoScaling.on(DescribeAutoScalingGroupsCommand).callsFake(() => {
      fleet.describeCalls++;
      if (fleet.describeCalls === 3) vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 86_400_000);
      return {
        AutoScalingGroups: [
          {
            AutoScalingGroupName: 'raiden-gpu-fleet',
            DesiredCapacity: fleet.desired,
            MaxSize: 1,
            Instances: fleet.desired > 0 ? [{ InstanceId: 'i-1', LifecycleState: 'Pending' }] : [],
          },
        ],
      };
    });
    const result = await run(BASE_INPUT, 'never-ready');
    vi.restoreAllMocks();
    expect(result.error?.name).toBe('FleetNotReady');
    expect(result.error?.cause).toMatch(/was not ready by .*1 instance\(s\) launched, 0 in service/);
    expect(result.entered.filter((name) => name === 'FleetStatus').length).toBeGreaterThanOrEqual(2);
    expect(fleet.setCalls).toEqual([1, 0]);
  });

  it('a batch: the fleet disappears mid-run', async () => {
    fleet.vanishAfterReady = true;
    const result = await run(BASE_INPUT, 'fleet-vanished');
    expect(result.error?.name).toBe('BackendUnavailable');
    expect(result.error?.cause).toContain('no instance in service');
    expect(result.entered).not.toContain('Finalize');
    expect(fleet.setCalls).toEqual([1, 0]);
  });

  it('Finalize: the handler fails', async () => {
    const result = await run(BASE_INPUT, 'finalize-fails', {
      Finalize: Object.assign(new Error('S3 is having a bad day'), { name: 'InternalError' }),
    });
    expect(result.error).toEqual({
      name: 'InternalError',
      cause: JSON.stringify({ errorType: 'InternalError', errorMessage: 'S3 is having a bad day' }),
    });
    expect(result.entered.slice(-4)).toEqual(['OthersRunning', 'FleetDown', 'Outcome', 'RunFailed']);
    expect(fleet.setCalls).toEqual([1, 0]);
  });
});

describe('readiness fails fast when the fleet cannot start', () => {
  const QUOTA =
    'You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified ' +
    'instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit. ' +
    'Launching EC2 instance failed.';

  beforeEach(() => {
    // The group never gets an instance; every launch since FleetUp failed on the vCPU quota.
    autoScaling.on(DescribeAutoScalingGroupsCommand).callsFake(() => ({
      AutoScalingGroups: [{ AutoScalingGroupName: 'raiden-gpu-fleet', DesiredCapacity: fleet.desired, MaxSize: 1, Instances: [] }],
    }));
    autoScaling.on(DescribeScalingActivitiesCommand).callsFake(() => ({
      Activities: [
        {
          Description: `Launching a new EC2 instance.  Status Reason: ${QUOTA}`,
          StatusCode: 'Failed',
          StatusMessage: QUOTA,
          StartTime: new Date(),
          Details: JSON.stringify({ 'Availability Zone': 'us-east-1a' }),
        },
      ],
    }));
  });

  it("a launch failure fails the execution at the first status check with AWS's reason, and the fleet goes to zero", async () => {
    const result = await run({ ...BASE_INPUT, teardown: 'keep' }, 'no-quota');
    expect(result.error?.name).toBe('FleetLaunchFailed');
    expect(result.error?.cause).toContain(QUOTA);
    expect(result.entered.filter((name) => name === 'FleetStatus')).toHaveLength(1);
    expect(result.entered).not.toContain('GenerateBatch');
    // Even with "teardown": "keep", a group that cannot launch is not left retrying.
    expect(fleet.setCalls).toEqual([1, 0]);
  });
});

describe('when FleetDown is skipped', () => {
  it('"teardown": "keep" leaves the fleet up', async () => {
    const result = await run({ ...BASE_INPUT, teardown: 'keep' }, 'keep-fleet');
    expect(result.output).toMatchObject({ status: 'complete' });
    expect(result.entered).not.toContain('FleetDown');
    expect(result.entered).not.toContain('OtherExecutions');
    expect(fleet.setCalls).toEqual([1]);
  });

  it('another execution still running keeps the fleet for it', async () => {
    fleet.otherRunning = true;
    const result = await run(BASE_INPUT, 'other-running');
    expect(result.output).toMatchObject({ status: 'complete' });
    expect(result.entered).toContain('OtherExecutions');
    expect(result.entered).not.toContain('FleetDown');
    expect(fleet.setCalls).toEqual([1]);
  });
});

describe('Bedrock batch inference in the workflow (control plane mocked, files in s3rver)', () => {
  it('answers the open slots with batch jobs first, the rest on demand, priced at the batch discount', async () => {
    const key = 'profiles/charactereval.json';
    await s3.client.send(new PutObjectCommand({ Bucket: INPUTS, Key: key, Body: readFileSync(CHARACTEREVAL_PROFILES) }));
    const service = fakeBatchService(s3.client, OUTPUTS, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'PartiallyCompleted', {
      processOnly: 150,
    });
    try {
      const input = {
        profiles: `s3://${INPUTS}/${key}`,
        strategy: 'bedrock',
        samplesPerProfile: 2,
        batchSlots: 64,
        bedrockBatchInference: true,
        batchPollSeconds: 10,
      };
      const result = await run(input, 'batch-inference-run');
      expect(result.error, JSON.stringify(result.error)).toBeUndefined();
      expect(result.output).toMatchObject({ runId: 'batch-inference-run', status: 'complete', accepted: 156, slots: 156 });
      for (const state of ['SubmitBatchJobs', 'WaitForBatchJobs', 'BatchJobsStatus', 'CollectBatchResults', 'GenerateBatch'])
        expect(result.entered).toContain(state);
      expect(result.entered).not.toContain('FleetUp');
      const { samples, report } = await readDataset('batch-inference-run');
      const fromBatch = samples.filter((sample) => sample.metadata.backend === 'bedrock-batch').length;
      // 150 records answered by the job; each still passes verification before it is kept, the rest run on demand.
      expect(fromBatch).toBeGreaterThan(100);
      expect(fromBatch).toBeLessThanOrEqual(150);
      expect(samples.length - fromBatch).toBeGreaterThanOrEqual(6);
      expect(Object.keys(report.backends)).toEqual(expect.arrayContaining(['bedrock-batch', 'bedrock']));
      // The same shape as raiden generate's: each job with its status, and what the jobs answered.
      expect((report as unknown as { bedrock_batch?: unknown }).bedrock_batch).toEqual({
        s3_uri: `s3://${OUTPUTS}/tmp/runs/batch-inference-run/bedrock-batch/`,
        records: 156,
        jobs: [{ job_arn: expect.stringContaining('model-invocation-job/job1'), status: 'PartiallyCompleted', records: 156 }],
        answered: 150,
        record_errors: 0,
        missing: 6,
      });
      expect(service.commandCalls(CreateModelInvocationJobCommand)).toHaveLength(1);
      expect(service.commandCalls(CreateModelInvocationJobCommand)[0]?.args[0].input).toMatchObject({
        roleArn: 'arn:aws:iam::000000000000:role/raiden-batch-inference',
        modelInvocationType: 'InvokeModel',
        timeoutDurationInHours: 24,
        inputDataConfig: {
          s3InputDataConfig: {
            s3Uri: expect.stringMatching(/^s3:\/\/raiden-outputs-local\/tmp\/runs\/batch-inference-run\/bedrock-batch\/input\//u),
          },
        },
      });
    } finally {
      service.restore();
    }
  });

  it('fails at submit for a model batch records cannot be written for, instead of paying the on-demand price', async () => {
    const key = 'profiles/charactereval-nova.json';
    await s3.client.send(new PutObjectCommand({ Bucket: INPUTS, Key: key, Body: readFileSync(CHARACTEREVAL_PROFILES) }));
    const service = fakeBatchService(s3.client, OUTPUTS, 'us.amazon.nova-pro-v1:0', 'Completed');
    try {
      const input = {
        profiles: `s3://${INPUTS}/${key}`,
        strategy: 'bedrock',
        bedrockModel: 'us.amazon.nova-pro-v1:0',
        samplesPerProfile: 2,
        batchSlots: 64,
        bedrockBatchInference: true,
        batchPollSeconds: 10,
      };
      const result = await run(input, 'batch-inference-nova');
      expect(result.error?.cause).toMatch(/bedrockBatchInference: .*us\.amazon\.nova-pro-v1:0 is not an Anthropic model/u);
      expect(result.entered).not.toContain('GenerateBatch');
      expect(service.commandCalls(CreateModelInvocationJobCommand)).toHaveLength(0);
    } finally {
      service.restore();
    }
  });

  it('runs fewer than 100 open slots on demand and says why in report.json, as raiden generate does', async () => {
    const service = fakeBatchService(s3.client, OUTPUTS, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'Completed');
    try {
      const result = await run(
        { ...BASE_INPUT, strategy: 'bedrock', bedrockBatchInference: true, batchPollSeconds: 10 },
        'batch-inference-small',
      );
      expect(result.error, JSON.stringify(result.error)).toBeUndefined();
      expect(result.output).toMatchObject({ status: 'complete', slots: 9, accepted: 9 });
      expect(service.commandCalls(CreateModelInvocationJobCommand)).toHaveLength(0);
      const { report } = await readDataset('batch-inference-small');
      // The same shape as raiden generate's: the open slots that ran on demand, no job.
      expect((report as unknown as { bedrock_batch?: unknown }).bedrock_batch).toEqual({
        s3_uri: `s3://${OUTPUTS}/tmp/runs/batch-inference-small/bedrock-batch/`,
        records: 9,
        jobs: [],
        skipped: '9 open slots, fewer than the 100 records Bedrock batch inference needs per job: they ran on demand',
      });
      expect(result.exited.get('SubmitBatchJobs')).toMatchObject({ batchJobs: { done: true, jobs: 0, records: 9 } });
    } finally {
      service.restore();
    }
  });

  it('refuses batch inference for a strategy that does not write every slot on Bedrock', async () => {
    const result = await run({ ...BASE_INPUT, strategy: 'sglang', bedrockBatchInference: true }, 'batch-inference-sglang');
    expect(result.error?.name).toBe('InvalidInput');
    expect(result.error?.cause).toMatch(/bedrockBatchInference works only with strategy bedrock, not with strategy sglang/u);
  });
});

describe('the mixed strategies in the workflow (simulated SGLang and Bedrock)', () => {
  it('filter: SGLang writes candidates in each batch, Bedrock judges them, verdicts in metadata and rejects', async () => {
    const bedrockSamplesBefore = bedrock.stats.byTool.raiden_sbk_sample ?? 0;
    const result = await run({ ...BASE_INPUT, strategy: 'filter' }, 'filter-run');
    expect(result.error).toBeUndefined();
    expect(result.output).toMatchObject({
      runId: 'filter-run',
      status: 'complete',
      accepted: 9,
      slots: 9,
      emptySlots: 0,
      failedBatches: 0,
    });
    expect(result.entered).not.toContain('SeedBatch');
    expect(fleet.setCalls).toEqual([1, 0]);

    const { keys, samples, rejects, report } = await readDataset('filter-run');
    expect(keys).toEqual(expect.arrayContaining(DATASET_CONTRACT));
    expect(samples).toHaveLength(9);
    for (const sample of samples) {
      expect(sample.metadata).toMatchObject({ backend: 'sglang', strategy: 'filter', judge: { backend: 'bedrock', min_score: 7 } });
      expect((sample.metadata.judge as { score: number }).score).toBeGreaterThanOrEqual(7);
      expect(sample.metadata.review_calls).toEqual(expect.arrayContaining([expect.objectContaining({ backend: 'bedrock' })]));
    }
    // Three candidates per slot: the other two are rejected with the judge's verdict.
    const judged = rejects.filter((reject) => reject.reason === 'judge_not_best' || reject.reason === 'judge_below_min_score');
    expect(judged.length).toBeGreaterThanOrEqual(18);
    expect(judged.every((reject) => (reject.review as { judge?: { score?: number } } | undefined)?.judge?.score !== undefined)).toBe(true);
    expect(bedrock.stats.byTool.raiden_sbk_sample ?? 0).toBe(bedrockSamplesBefore);
    expect(report).toMatchObject({ strategy: { name: 'filter', candidates: 3, min_score: 7 }, samples: { accepted: 9 } });
    expect(report.backends.sglang?.samples).toBe(9);
    expect(report.backends.bedrock?.review_calls).toBeGreaterThanOrEqual(27);
  });

  it('iterative: seed batches on Bedrock finish before the expansion batches, which use them as few-shot; Finalize evaluates', async () => {
    const result = await run({ ...BASE_INPUT, strategy: 'iterative', seedProfiles: 1 }, 'iterative-run');
    expect(result.error).toBeUndefined();
    expect(result.output).toMatchObject({
      runId: 'iterative-run',
      status: 'complete',
      accepted: 9,
      slots: 9,
      emptySlots: 0,
      failedBatches: 0,
    });
    const seedBatches = result.entered.flatMap((name, index) => (name === 'SeedBatch' ? [index] : []));
    const expandBatches = result.entered.flatMap((name, index) => (name === 'GenerateBatch' ? [index] : []));
    expect(seedBatches).toHaveLength(1);
    expect(expandBatches).toHaveLength(2);
    expect(Math.max(...seedBatches)).toBeLessThan(Math.min(...expandBatches));
    // The fleet is raised once the seeds are written, not before: the idle watchdog cannot take it meanwhile.
    expect(result.entered.indexOf('FleetUp')).toBeGreaterThan(Math.max(...seedBatches));
    expect(fleet.setCalls).toEqual([1, 0]);

    const { keys, samples, report } = await readDataset('iterative-run');
    expect(keys).toEqual(expect.arrayContaining([...DATASET_CONTRACT, 'evaluation.jsonl']));
    const seeds = samples.filter((sample) => sample.metadata.phase === 'seed');
    const expanded = samples.filter((sample) => sample.metadata.phase === 'expand');
    expect(seeds).toHaveLength(3);
    expect(new Set(seeds.map((sample) => sample.id.split('/')[0])).size).toBe(1);
    expect(seeds.every((sample) => sample.metadata.backend === 'bedrock' && sample.metadata.strategy === 'iterative')).toBe(true);
    expect(expanded).toHaveLength(6);
    expect(expanded.every((sample) => sample.metadata.backend === 'sglang' && sample.metadata.few_shot_seeds === true)).toBe(true);
    expect(report.backends).toMatchObject({ bedrock: { samples: 3, review_calls: 6 }, sglang: { samples: 6 } });
    expect(report).toMatchObject({
      strategy: { name: 'iterative', seed_profiles: 1 },
      workflow: { batches: { total: 3, seed: 1, on_bedrock: 1, on_sglang: 2 } },
    });
    const evaluation = report.evaluation as { judged: number; passed: number; pass_rate: number };
    expect(evaluation.judged).toBe(6);
    expect(evaluation.pass_rate).toBeCloseTo(evaluation.passed / 6, 3);
    expect((await readRunFile('iterative-run', 'evaluation.jsonl')).trim().split('\n')).toHaveLength(6);
  });

  it('iterative: a failure in the seed phase still reaches FleetDown, and no expansion batch runs', async () => {
    bedrockSampleFault = 'access_denied';
    const result = await run({ ...BASE_INPUT, strategy: 'iterative', seedProfiles: 1 }, 'iterative-seed-fails');
    expect(result.error?.name).toBe('BackendUnavailable');
    expect(result.entered).toContain('SeedBatch');
    expect(result.entered).not.toContain('GenerateBatch');
    expect(result.entered).not.toContain('Finalize');
    expect(result.entered.slice(-4)).toEqual(['OthersRunning', 'FleetDown', 'Outcome', 'RunFailed']);
    // The seeds failed before the fleet was raised: FleetDown finds it at zero and leaves it there.
    expect(fleet.setCalls).toEqual([]);
    expect(result.entered).not.toContain('FleetUp');
  });

  it('a bad strategy setting names the field', async () => {
    const result = await run({ ...BASE_INPUT, strategy: 'iterative', seedProfiles: 1.5 }, 'bad-seed-profiles');
    expect(result.error?.name).toBe('InvalidInput');
    expect(result.error?.cause).toContain('seedProfiles 1.5');
  });
});

describe('the response cache in the workflow, and raiden reverify of a run in S3', () => {
  const CACHED_INPUT = BASE_INPUT;
  beforeAll(() => {
    const generateBatch = [...workflow.functions.values()].find((fn) => fn.constructPath.includes('/GenerateBatch/'));
    expect(generateBatch?.environment[RESPONSE_CACHE_ENV]).toBe('cache/responses/');
    process.env[RESPONSE_CACHE_ENV] = generateBatch?.environment[RESPONSE_CACHE_ENV];
  });
  afterAll(() => {
    delete process.env[RESPONSE_CACHE_ENV];
  });
  const comparableSample = (sample: Sample) => {
    const { generated_at: _at, cached: _cached, ...metadata } = sample.metadata;
    return { ...sample, metadata };
  };
  const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
  const listKeys = async (prefix: string) =>
    ((await s3.client.send(new ListObjectsV2Command({ Bucket: OUTPUTS, Prefix: prefix }))).Contents ?? []).map((o) => o.Key ?? '');

  it('GenerateBatch answers a rerun of the same input from the cache: 0 calls, the same samples, hits in the report', async () => {
    const first = await run(CACHED_INPUT, 'cache-first');
    expect(first.output).toMatchObject({ status: 'complete', accepted: 9 });
    const paid = sglang.stats.chatRequests;
    expect((await listKeys('cache/responses/')).length).toBeGreaterThanOrEqual(9);

    const second = await run(CACHED_INPUT, 'cache-second');
    expect(second.output).toMatchObject({ status: 'complete', accepted: 9 });
    expect(sglang.stats.chatRequests).toBe(paid);
    const before = await readDataset('cache-first');
    const after = await readDataset('cache-second');
    expect(after.samples.map(comparableSample).sort(byId)).toEqual(before.samples.map(comparableSample).sort(byId));
    expect(after.report).toMatchObject({
      requests: { this_invocation: 0 },
      cache: { hits: 9 + after.rejects.length },
      workflow: { batches: { finished: 3 } },
    });
    expect((after.report.cache as { usd_saved: number }).usd_saved).toBeGreaterThan(0);
    expect(before.report).toMatchObject({ cache: { hits: 0 } });
  });

  it('reverify re-judges the run in S3 with 0 calls, swaps its files, then the fill calls the model only for the slot that lost its sample', async () => {
    // A sample an older, looser verifier let through: its keyword is not in its answer.
    const parts = await listKeys('runs/cache-second/parts/samples/');
    const key = parts[0] ?? '';
    const stored = JSON.parse(
      await (await s3.client.send(new GetObjectCommand({ Bucket: OUTPUTS, Key: key }))).Body!.transformToString(),
    ) as Sample;
    await s3.client.send(
      new PutObjectCommand({
        Bucket: OUTPUTS,
        Key: key,
        Body: JSON.stringify({ ...stored, keywords: ['火星基地'], keyword_alternatives: [[]] }),
      }),
    );
    const paid = sglang.stats.chatRequests;

    // While the execution that holds the run's writer lease still runs, reverify refuses to touch the run.
    fleet.runningExecutions = ['cache-second'];
    const refused = await runCli(['reverify', '--run', `s3://${OUTPUTS}/runs/cache-second`, '--no-fill']);
    fleet.runningExecutions = [];
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is being written by arn:aws:states:[^ ]+:cache-second since .*: wait for it to end/u);
    expect(await listKeys('runs/cache-second/.reverify/')).toEqual([]);

    const checked = await runCli(['reverify', '--run', `s3://${OUTPUTS}/runs/cache-second`, '--no-fill']);
    expect(checked.stderr).not.toMatch(/unexpected/u);
    expect(checked.code).toBe(3);
    expect(sglang.stats.chatRequests).toBe(paid);
    const swapped = await readDataset('cache-second');
    expect(swapped.samples.map((sample) => sample.id)).not.toContain(stored.id);
    expect(swapped.samples).toHaveLength(8);
    expect(swapped.rejects.filter((reject) => reject.slot_id === stored.id).map((reject) => reject.reason)).toContain(
      'keyword_not_in_answer',
    );
    expect(swapped.report).toMatchObject({
      status: 'incomplete',
      reverify: { samples: { checked: 9, kept: 8, dropped: 1 } },
      workflow: { batches: { total: 3 } },
    });
    expect(await listKeys('runs/cache-second/.reverify/')).toEqual([]);
    // The ended execution's lease was taken over, and released when reverify finished.
    expect(await listKeys('runs/cache-second/run.lock')).toEqual([]);

    const filled = await runCli(['reverify', '--run', `s3://${OUTPUTS}/runs/cache-second`, '--endpoint', sglang.url]);
    expect(filled.stderr).not.toMatch(/unexpected/u);
    expect(filled.code).toBe(0);
    expect(sglang.stats.chatRequests - paid).toBe(1);
    const done = await readDataset('cache-second');
    expect(done.samples).toHaveLength(9);
    expect(done.samples.find((sample) => sample.id === stored.id)).toMatchObject({
      keywords: stored.keywords,
      metadata: { attempt: stored.metadata.attempt + 1 },
    });
    expect(done.report).toMatchObject({
      status: 'complete',
      samples: { accepted: 9 },
      requests: { this_invocation: 1 },
      reverify: { filled: 1 },
    });
    expect(done.keys).toContain('report.html');
  });
});
