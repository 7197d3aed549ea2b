import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  SGLANG_METRIC_DIMENSIONS,
  SGLANG_METRICS_NAMESPACE,
  type RUN_METRIC_NAMES,
  type SglangServerMetric,
} from '../../../orchestrator/src/contract/deployed-names.ts';

export interface RunDashboardProps {
  readonly dashboardName: string;
  readonly stateMachine: sfn.IStateMachine;
  /** Namespace of the run metrics the handlers emit (EMF). */
  readonly namespace: string;
  /** The GPU fleet, whose in-service instances price the GPU time. */
  readonly fleet: {
    readonly autoScalingGroupName: string;
    /**
     * On-demand USD per instance-hour, for the GPU cost line.
     * @default - no cost line (an instance type without a known price): instance-hours only
     */
    readonly usdPerInstanceHour?: number;
  };
}

type RunMetricName = (typeof RUN_METRIC_NAMES)[number];

/**
 * One CloudWatch dashboard for the orchestrator: totals over all runs, each run's progress and cost (SEARCH
 * expressions over the RunId dimension, so a new run shows up without a redeploy), the GPU fleet's
 * instance-hours and their price, the SGLang servers' own metrics, and the state machine's executions.
 */
export class RunDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RunDashboardProps) {
    super(scope, id);
    const fiveMinutes = Duration.minutes(5);
    const metric = (name: RunMetricName) =>
      new cloudwatch.Metric({ namespace: props.namespace, metricName: name, statistic: 'Sum', period: fiveMinutes });
    // RUNNING_SUM starts at the left edge of the graph: "so far" means within the dashboard's time range.
    const perRunSoFar = (name: RunMetricName, label: string) =>
      new cloudwatch.MathExpression({
        expression: `RUNNING_SUM(${search(props.namespace, ['RunId'], name, 'Sum', fiveMinutes)})`,
        label,
        period: fiveMinutes,
      });
    const executions = (name: 'Started' | 'Succeeded' | 'Failed' | 'Aborted' | 'TimedOut') =>
      new cloudwatch.Metric({
        namespace: 'AWS/States',
        metricName: `Executions${name}`,
        dimensionsMap: { StateMachineArn: props.stateMachine.stateMachineArn },
        statistic: 'Sum',
        period: fiveMinutes,
      });
    const sglang = (name: SglangServerMetric, statistic: 'Average' | 'Maximum') =>
      new cloudwatch.MathExpression({
        expression: search(SGLANG_METRICS_NAMESPACE, SGLANG_METRIC_DIMENSIONS, name, statistic, Duration.minutes(1)),
        // Each line is then named by its dimension values: the instance and the server.
        label: '',
        period: Duration.minutes(1),
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
            title: 'Progress per run: samples accepted and rejected so far',
            left: [perRunSoFar('SamplesAccepted', 'accepted'), perRunSoFar('SamplesRejected', 'rejected')],
            leftYAxis: { min: 0, showUnits: false },
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Bedrock cost per run so far (USD)',
            left: [perRunSoFar('BedrockCostUsd', '')],
            leftYAxis: { min: 0, label: 'USD', showUnits: false },
            width: 8,
          }),
          gpuFleetWidget(props.fleet),
        ],
        [
          sglangWidget('Running requests per server', [sglang('sglang:num_running_reqs', 'Maximum')]),
          sglangWidget('Queued requests per server', [sglang('sglang:num_queue_reqs', 'Maximum')]),
          sglangWidget('Generation throughput per server (tokens/s)', [sglang('sglang:gen_throughput', 'Average')]),
          sglangWidget('Prefix cache hit rate per server', [sglang('sglang:cache_hit_rate', 'Average')], { min: 0, max: 1 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Runs',
            left: [executions('Started'), executions('Succeeded'), executions('Failed'), executions('Aborted'), executions('TimedOut')],
            width: 12,
          }),
          new cloudwatch.TextWidget({
            markdown:
              `**Per run**: every metric also has the dimension \`RunId\` in namespace \`${props.namespace}\`; ` +
              'the per-run graphs add up from the left edge of the time range, so pick a range that covers the run.\n\n' +
              `**GPU cost** is the fleet's, shared by the runs that overlap; spot and reserved capacity cost less than it says.\n\n` +
              `**SGLang servers**: namespace \`${SGLANG_METRICS_NAMESPACE}\`, dimensions ${SGLANG_METRIC_DIMENSIONS.map((d) => `\`${d}\``).join(', ')}, ` +
              'scraped every minute from each server by the CloudWatch agent.\n\n' +
              'Logs: one JSON object per line with `runId` and `batchId`; in Logs Insights, `filter runId = "<run id>"`.',
            width: 12,
            height: 6,
          }),
        ],
      ],
    });
  }
}

/** A SEARCH over one metric by an exact dimension schema; names are quoted, since `/` and `:` need it. */
function search(namespace: string, dimensions: readonly string[], metricName: string, statistic: string, period: Duration): string {
  const schema = [namespace, ...dimensions].map((name) => `"${name}"`).join(',');
  return `SEARCH('{${schema}} MetricName="${metricName}"', '${statistic}', ${period.toSeconds()})`;
}

function sglangWidget(title: string, metrics: cloudwatch.IMetric[], axis: cloudwatch.YAxisProps = { min: 0 }): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left: metrics, leftYAxis: { ...axis, showUnits: false }, width: 6 });
}

/**
 * Instance-hours from the group's GroupInServiceInstances (a 1-minute average, so PERIOD/3600 of it is the
 * instance-hours of each point), and their running total times the on-demand price.
 */
function gpuFleetWidget(fleet: RunDashboardProps['fleet']): cloudwatch.GraphWidget {
  const inService = new cloudwatch.Metric({
    namespace: 'AWS/AutoScaling',
    metricName: 'GroupInServiceInstances',
    dimensionsMap: { AutoScalingGroupName: fleet.autoScalingGroupName },
    statistic: 'Average',
    period: Duration.minutes(1),
    label: 'instances in service',
  });
  const instanceHours = 'FILL(inService, 0) * PERIOD(inService) / 3600';
  const price = fleet.usdPerInstanceHour;
  const soFar = new cloudwatch.MathExpression({
    expression: price === undefined ? `RUNNING_SUM(${instanceHours})` : `RUNNING_SUM(${instanceHours} * ${price})`,
    usingMetrics: { inService },
    label: price === undefined ? 'instance-hours so far' : `GPU cost so far (USD at ${price} per instance-hour on demand)`,
    period: Duration.minutes(1),
  });
  return new cloudwatch.GraphWidget({
    title: 'GPU fleet: instances in service and cost so far',
    left: [inService],
    right: [soFar],
    leftYAxis: { min: 0, showUnits: false },
    rightYAxis: { min: 0, showUnits: false },
    width: 8,
  });
}
