import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { RUN_METRIC_NAMES } from '../../../orchestrator/src/contract/deployed-names.ts';

export interface RunDashboardProps {
  readonly dashboardName: string;
  readonly stateMachine: sfn.IStateMachine;
  /** Namespace of the run metrics the handlers emit (EMF). */
  readonly namespace: string;
}

/**
 * One CloudWatch dashboard for the orchestrator: samples, rejects, tokens, requests and backend errors over
 * all runs (per-run figures are under the RunId dimension), and the state machine's executions.
 */
export class RunDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RunDashboardProps) {
    super(scope, id);
    const metric = (name: (typeof RUN_METRIC_NAMES)[number]) =>
      new cloudwatch.Metric({ namespace: props.namespace, metricName: name, statistic: 'Sum', period: Duration.minutes(5) });
    const executions = (name: 'Started' | 'Succeeded' | 'Failed' | 'Aborted' | 'TimedOut') =>
      new cloudwatch.Metric({
        namespace: 'AWS/States',
        metricName: `Executions${name}`,
        dimensionsMap: { StateMachineArn: props.stateMachine.stateMachineArn },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Samples',
            left: [metric('SamplesAccepted'), metric('SamplesRejected'), metric('EmptySlots')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Requests and errors',
            left: [metric('Requests')],
            right: [metric('TransportFailures'), metric('BackendErrors')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'Tokens', left: [metric('InputTokens'), metric('OutputTokens')], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Runs',
            left: [executions('Started'), executions('Succeeded'), executions('Failed'), executions('Aborted'), executions('TimedOut')],
            width: 12,
          }),
          new cloudwatch.TextWidget({
            markdown:
              `**Per run**: every metric also has the dimension \`RunId\` in namespace \`${props.namespace}\`.\n\n` +
              'Logs: one JSON object per line with `runId` and `batchId`; in Logs Insights, `filter runId = "<run id>"`.',
            width: 12,
            height: 6,
          }),
        ],
      ],
    });
  }
}
