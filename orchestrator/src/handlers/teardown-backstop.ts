/**
 * Teardown backstop: an EventBridge rule calls this when an execution of the workflow is aborted, times
 * out or fails, cases in which the workflow's own FleetDown may never have run. It scales the fleet to
 * zero unless another execution is still running and needs it.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import { runningExecutions, scaleFleetToZero } from '../fleet/fleet.ts';
import { awsClients, ENV, requiredEnv } from './handler-env.ts';
import { logger } from './observability.ts';

export interface ExecutionStatusChange {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name?: string;
  readonly status: string;
}

export interface BackstopOutput {
  readonly scaledDown: boolean;
  readonly running: readonly string[];
  readonly previous?: number;
}

export async function handler(
  event: EventBridgeEvent<'Step Functions Execution Status Change', ExecutionStatusChange>,
): Promise<BackstopOutput> {
  const stateMachineArn = event.detail.stateMachineArn || requiredEnv(ENV.stateMachineArn);
  const group = requiredEnv(ENV.autoScalingGroup);
  const log = logger({ handler: 'teardown-backstop', runId: event.detail.name });
  const { sfn, autoScaling } = awsClients();
  const running = (await runningExecutions(sfn, stateMachineArn)).filter((arn) => arn !== event.detail.executionArn);
  if (running.length > 0) {
    log.info('fleet kept: other executions still run', { status: event.detail.status, execution: event.detail.executionArn, running });
    return { scaledDown: false, running };
  }
  const change = await scaleFleetToZero(autoScaling, group);
  log.info('fleet scaled to zero after an execution ended without its own teardown', {
    status: event.detail.status,
    execution: event.detail.executionArn,
    group,
    previous: change.previous,
  });
  return { scaledDown: true, running, previous: change.previous };
}
