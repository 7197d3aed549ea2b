import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  type Activity,
} from '@aws-sdk/client-auto-scaling';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { classifyLaunchFailure, LAUNCH_FAILURE_GRACE_MS, readLaunchActivities } from '../../orchestrator/src/fleet/launch-activities.ts';
import { handler as fleetStatus } from '../../orchestrator/src/handlers/fleet-status.ts';
import { handler as fleetUp } from '../../orchestrator/src/handlers/fleet-up.ts';
import { resetAwsClients } from '../../orchestrator/src/handlers/handler-env.ts';
import { sglangApiKey } from '../../orchestrator/src/handlers/sglang-api-key.ts';
import { handler as backstop, type ExecutionStatusChange } from '../../orchestrator/src/handlers/teardown-backstop.ts';
import type { EventBridgeEvent } from 'aws-lambda';

const autoScaling = mockClient(AutoScalingClient);
const sfn = mockClient(SFNClient);
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:raiden-generation';
const execution = (name: string) => `arn:aws:states:us-east-1:000000000000:execution:raiden-generation:${name}`;

function statusChange(status: string, name = 'ended'): EventBridgeEvent<'Step Functions Execution Status Change', ExecutionStatusChange> {
  return { detail: { executionArn: execution(name), stateMachineArn: STATE_MACHINE, name, status } } as EventBridgeEvent<
    'Step Functions Execution Status Change',
    ExecutionStatusChange
  >;
}

let saved: NodeJS.ProcessEnv;
beforeEach(() => {
  saved = { ...process.env };
  Object.assign(process.env, { RAIDEN_ASG_NAME: 'raiden-gpu-fleet', RAIDEN_STATE_MACHINE_ARN: STATE_MACHINE, AWS_REGION: 'us-east-1' });
  resetAwsClients();
  autoScaling.reset();
  sfn.reset();
  autoScaling
    .on(DescribeAutoScalingGroupsCommand)
    .resolves({ AutoScalingGroups: [{ AutoScalingGroupName: 'raiden-gpu-fleet', DesiredCapacity: 1, MinSize: 0, MaxSize: 2 } as never] });
  autoScaling.on(SetDesiredCapacityCommand).resolves({});
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  process.env = saved;
  vi.restoreAllMocks();
});

describe('teardown backstop', () => {
  it('scales the fleet to zero when the ended execution was the only one', async () => {
    // Prepare: the status change arrives while ListExecutions may still list the ended execution itself.
    sfn.on(ListExecutionsCommand).resolves({ executions: [{ executionArn: execution('ended') } as never] });
    // Act
    const result = await backstop(statusChange('ABORTED'));
    // Assess
    expect(result).toEqual({ scaledDown: true, running: [], previous: 1 });
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand).map((call) => call.args[0].input)).toEqual([
      { AutoScalingGroupName: 'raiden-gpu-fleet', DesiredCapacity: 0, HonorCooldown: false },
    ]);
  });

  it('leaves the fleet alone while another execution runs', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [{ executionArn: execution('other') } as never] });
    const result = await backstop(statusChange('TIMED_OUT'));
    expect(result).toEqual({ scaledDown: false, running: [execution('other')] });
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
  });

  it('pages through every running execution', async () => {
    sfn
      .on(ListExecutionsCommand)
      .resolvesOnce({ executions: [], nextToken: 'page-2' })
      .resolvesOnce({ executions: [{ executionArn: execution('late') } as never] });
    expect((await backstop(statusChange('FAILED'))).scaledDown).toBe(false);
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input)).toEqual([
      expect.objectContaining({ stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING' }),
      expect.objectContaining({ stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING', nextToken: 'page-2' }),
    ]);
  });
});

describe('fleet up', () => {
  it('raises the fleet to the instances asked for, capped at the group maximum, and sets the readiness deadline', async () => {
    const before = Date.now();
    const result = await fleetUp({ runId: 'r', instances: 5, readinessTimeoutSeconds: 600 });
    expect(result).toMatchObject({ previous: 1, desired: 2 });
    expect(Date.parse(result.deadline) - Date.parse(result.startedAt)).toBe(600_000);
    expect(Date.parse(result.startedAt)).toBeGreaterThanOrEqual(before);
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand)[0]?.args[0].input).toMatchObject({ DesiredCapacity: 2 });
  });

  it('never lowers a fleet another run has raised', async () => {
    expect(await fleetUp({ runId: 'r', instances: 1, readinessTimeoutSeconds: 60 })).toMatchObject({ previous: 1, desired: 1 });
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
  });
});

describe('SGLang API key', () => {
  it('is read through the Parameters and Secrets extension with the session token', async () => {
    const seen: { url?: string; token?: string | string[] }[] = [];
    const extension = createServer((request, response) => {
      seen.push({ url: request.url, token: request.headers['x-aws-parameters-secrets-token'] });
      response.end(JSON.stringify({ SecretString: 'the-key' }));
    });
    await new Promise<void>((resolve) => extension.listen(0, '127.0.0.1', resolve));
    Object.assign(process.env, {
      RAIDEN_API_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:raiden-key',
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String((extension.address() as AddressInfo).port),
      AWS_SESSION_TOKEN: 'session-token',
    });
    try {
      expect(await sglangApiKey()).toBe('the-key');
      expect(await sglangApiKey()).toBe('the-key');
      expect(seen).toEqual([
        {
          url: `/secretsmanager/get?secretId=${encodeURIComponent('arn:aws:secretsmanager:us-east-1:000000000000:secret:raiden-key')}`,
          token: 'session-token',
        },
      ]);
    } finally {
      extension.close();
    }
  });

  it('is absent when no secret is configured', async () => {
    delete process.env.RAIDEN_API_KEY_SECRET_ARN;
    expect(await sglangApiKey()).toBeUndefined();
  });
});

/** Real activity texts of EC2 Auto Scaling (StatusMessage is EC2's reason for a failed launch). */
const CAPACITY =
  'We currently do not have sufficient p5en.48xlarge capacity in the Availability Zone you requested (us-east-1a). Our system ' +
  'will be working on provisioning additional capacity. You can currently get p5en.48xlarge capacity by not specifying an ' +
  'Availability Zone in your request or choosing us-east-1b. Launching EC2 instance failed.';
const QUOTA =
  'You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified ' +
  'instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit. ' +
  'Launching EC2 instance failed.';
const UNSUPPORTED =
  'Your requested instance type (p5en.48xlarge) is not supported in your requested Availability Zone (us-east-1c). Please ' +
  'retry your request by not specifying an Availability Zone or choosing us-east-1b. Launching EC2 instance failed.';

/** An activity of the fleet's group, with the fields every activity has. */
function activity(fields: Partial<Activity> & { Description: string; StartTime: Date }): Activity {
  return {
    ActivityId: `a-${fields.StartTime.getTime()}`,
    AutoScalingGroupName: 'raiden-gpu-fleet',
    Cause: '',
    StatusCode: 'Successful',
    ...fields,
  };
}

function failedLaunch(message: string, at: Date, zone = 'us-east-1a'): Activity {
  return {
    ActivityId: `a-${at.getTime()}`,
    AutoScalingGroupName: 'raiden-gpu-fleet',
    Description: `Launching a new EC2 instance.  Status Reason: ${message}`,
    Cause: `At ${at.toISOString()} an instance was started in response to a difference between desired and actual capacity, increasing the capacity from 0 to 1.`,
    StartTime: at,
    StatusCode: 'Failed',
    StatusMessage: message,
    Details: JSON.stringify({ 'Availability Zone': zone }),
    Progress: 100,
  };
}

describe('launch activities', () => {
  it("classifies EC2's reasons: quota, capacity, unsupported zone", () => {
    expect(
      [QUOTA, CAPACITY, UNSUPPORTED, 'There is no Spot capacity available that matches your request.'].map(classifyLaunchFailure),
    ).toEqual(['quota', 'capacity', 'unsupported', 'capacity']);
  });

  it('reads only what happened since the run raised the fleet, and finds instances that scaled themselves in', () => {
    const since = new Date('2026-01-01T10:00:00Z');
    const report = readLaunchActivities(
      [
        failedLaunch(QUOTA, new Date('2026-01-01T08:00:00Z')),
        activity({
          Description: 'Launching a new EC2 instance: i-0aaa1',
          StartTime: new Date('2026-01-01T10:01:00Z'),
          Cause: 'At 2026-01-01T10:01:00Z an instance was started in response to a difference between desired and actual capacity',
        }),
        activity({
          Description: 'Terminating EC2 instance: i-0aaa1',
          StartTime: new Date('2026-01-01T10:20:00Z'),
          Cause:
            'At 2026-01-01T10:20:00Z instance i-0aaa1 was taken out of service in response to a user request, shrinking the capacity from 1 to 0.',
        }),
        activity({
          Description: 'Terminating EC2 instance: i-0e1d',
          StartTime: new Date('2026-01-01T10:21:00Z'),
          Cause:
            'At 2026-01-01T10:21:00Z instance i-0e1d was taken out of service in response to a user request, shrinking the capacity from 1 to 0.',
        }),
      ],
      since,
    );
    expect(report.launchFailures).toEqual([]);
    expect(report.bootFailures.map((failure) => failure.instanceId)).toEqual(['i-0aaa1']);
  });
});

describe('fleet status: a fleet that cannot start fails the run within minutes', () => {
  const NOW = Date.parse('2026-01-01T10:10:00Z');
  const since = new Date(NOW - 8 * 60_000).toISOString();
  const deadline = new Date(NOW + 60 * 60_000).toISOString();
  let desired = 1;

  beforeEach(() => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW);
    Object.assign(process.env, { RAIDEN_SERVERS: JSON.stringify([{ name: 'main', port: 30000, model: 'm', dp: 1 }]) });
    delete process.env.RAIDEN_API_KEY_SECRET_ARN;
    desired = 1;
    autoScaling.on(DescribeAutoScalingGroupsCommand).callsFake(() => ({
      AutoScalingGroups: [{ AutoScalingGroupName: 'raiden-gpu-fleet', DesiredCapacity: desired, MaxSize: 1, Instances: [] } as never],
    }));
    autoScaling.on(SetDesiredCapacityCommand).callsFake((input: { DesiredCapacity: number }) => {
      desired = input.DesiredCapacity;
      return {};
    });
  });

  const minutesAgo = (minutes: number) => new Date(NOW - minutes * 60_000);

  it("a vCPU quota failure fails at once with AWS's reason and the fix, and sets the group to zero", async () => {
    autoScaling.on(DescribeScalingActivitiesCommand).resolves({ Activities: [failedLaunch(QUOTA, minutesAgo(1))] });
    const error = await fleetStatus({ runId: 'r', deadline, since }).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'FleetLaunchFailed' });
    expect((error as Error).message).toContain(`AWS said: "us-east-1a: ${QUOTA}"`);
    expect((error as Error).message).toContain('L-417A185B');
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand).map((call) => call.args[0].input.DesiredCapacity)).toEqual([0]);
  });

  it('a capacity failure waits out the grace period (the group may find capacity in its next zone), then fails', async () => {
    autoScaling.on(DescribeScalingActivitiesCommand).resolves({ Activities: [failedLaunch(CAPACITY, minutesAgo(2))] });
    expect(await fleetStatus({ runId: 'r', deadline, since })).toMatchObject({ ready: false });
    expect(autoScaling.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);

    const firstFailure = minutesAgo(LAUNCH_FAILURE_GRACE_MS / 60_000 + 1);
    autoScaling.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [failedLaunch(CAPACITY, minutesAgo(1), 'us-east-1b'), failedLaunch(UNSUPPORTED, firstFailure, 'us-east-1c')],
    });
    const error = await fleetStatus({ runId: 'r', deadline, since }).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'FleetLaunchFailed' });
    expect((error as Error).message).toMatch(/2 failed attempt\(s\) since .*AWS said: "us-east-1c: Your requested instance type/u);
    expect((error as Error).message).toContain('npx raiden doctor lists them');
    expect(desired).toBe(0);
  });

  it('an instance that gave up its boot fails the run at once and names its log stream', async () => {
    autoScaling.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [
        activity({ Description: 'Launching a new EC2 instance: i-0b0a7', StartTime: minutesAgo(7) }),
        activity({
          Description: 'Terminating EC2 instance: i-0b0a7',
          StartTime: minutesAgo(1),
          Cause:
            'At 2026-01-01T10:09:00Z instance i-0b0a7 was taken out of service in response to a user request, shrinking the capacity from 1 to 0.',
        }),
      ],
    });
    const error = await fleetStatus({ runId: 'r', deadline, since }).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'FleetBootFailed' });
    expect((error as Error).message).toContain('instance i-0b0a7 of raiden-gpu-fleet gave up its boot');
    expect((error as Error).message).toContain('i-0b0a7/user-data stream');
  });

  it('while an instance is launching or booting it keeps waiting and reads no activities', async () => {
    autoScaling.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'raiden-gpu-fleet',
          DesiredCapacity: 1,
          Instances: [{ InstanceId: 'i-1', LifecycleState: 'Pending' }],
        } as never,
      ],
    });
    expect(await fleetStatus({ runId: 'r', deadline, since })).toMatchObject({ ready: false, instances: 0 });
    expect(autoScaling.commandCalls(DescribeScalingActivitiesCommand)).toHaveLength(0);
  });

  it("past the deadline with nothing launched, the error carries the group's latest activity", async () => {
    autoScaling.on(DescribeScalingActivitiesCommand).resolves({ Activities: [failedLaunch(CAPACITY, minutesAgo(1))] });
    const error = await fleetStatus({ runId: 'r', deadline: new Date(NOW - 1).toISOString(), since }).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'FleetNotReady' });
    expect((error as Error).message).toContain(`the group's latest activity: Failed: ${CAPACITY}`);
  });
});
