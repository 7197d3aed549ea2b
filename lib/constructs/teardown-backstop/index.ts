import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV } from '../../../orchestrator/src/contract/deployed-names.ts';
import { EXECUTION_LIST_ACTIONS, FLEET_DESCRIBE_ACTIONS, FLEET_SCALE_ACTIONS } from '../../iam-actions.ts';
import { acknowledgeWildcardResource } from '../../nag-acknowledgements.ts';
import { OrchestratorFunction, type OrchestratorNetwork } from '../orchestrator-function/index.ts';

/** Execution statuses after which the workflow's own FleetDown may not have run. */
export const BACKSTOP_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'];

export interface TeardownBackstopProps {
  readonly stateMachine: sfn.IStateMachine;
  readonly autoScalingGroupName: string;
  /** ARN of the group (with the wildcard for its generated id), for SetDesiredCapacity. */
  readonly autoScalingGroupArn: string;
  readonly network: OrchestratorNetwork;
  /**
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The second teardown layer: a Catch never runs when an execution is stopped or times out, so an
 * EventBridge rule on the state machine's ABORTED / TIMED_OUT / FAILED status changes invokes a Lambda
 * that scales the fleet to zero when no other execution is running.
 */
export class TeardownBackstop extends Construct {
  readonly rule: events.Rule;
  readonly function: OrchestratorFunction['function'];

  constructor(scope: Construct, id: string, props: TeardownBackstopProps) {
    super(scope, id);
    this.function = new OrchestratorFunction(this, 'Handler', {
      handler: 'teardown-backstop',
      description: 'raiden teardown backstop: scale the GPU fleet to zero after an aborted, timed-out or failed run',
      network: props.network,
      timeout: Duration.minutes(1),
      logRetention: props.logRetention,
      environment: { [ENV.autoScalingGroup]: props.autoScalingGroupName, [ENV.stateMachineArn]: props.stateMachine.stateMachineArn },
    }).function;
    this.function.addToRolePolicy(new iam.PolicyStatement({ sid: 'DescribeFleet', actions: FLEET_DESCRIBE_ACTIONS, resources: ['*'] }));
    this.function.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ScaleFleet', actions: FLEET_SCALE_ACTIONS, resources: [props.autoScalingGroupArn] }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ListRuns', actions: EXECUTION_LIST_ACTIONS, resources: [props.stateMachine.stateMachineArn] }),
    );
    if (this.function.role !== undefined) {
      acknowledgeWildcardResource(
        this.function.role,
        props.autoScalingGroupArn,
        'The wildcard is the generated id inside an auto-scaling group ARN; the group name pins the one group.',
      );
    }

    this.rule = new events.Rule(this, 'RunEnded', {
      description: 'A raiden run was aborted, timed out or failed: make sure the GPU fleet scales to zero',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: BACKSTOP_STATUSES },
      },
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 8, maxEventAge: Duration.hours(2) })],
    });
  }
}
