import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand } from '@aws-sdk/client-auto-scaling';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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
    expect(Date.parse(result.deadline) - before).toBeGreaterThanOrEqual(600_000);
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
