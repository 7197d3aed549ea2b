import { CfnOutput, Stack, Tags } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { INPUTS_BUCKET_TAG, OUTPUTS_BUCKET_TAG } from '../../orchestrator/src/contract/deployed-names.ts';
import { RunDashboard } from '../constructs/dashboard/index.ts';
import {
  GenerationWorkflow,
  METRICS_NAMESPACE,
  type WorkflowFleet,
  type WorkflowSettings,
} from '../constructs/generation-workflow/index.ts';
import type { OrchestratorNetwork } from '../constructs/orchestrator-function/index.ts';
import { TeardownBackstop } from '../constructs/teardown-backstop/index.ts';

/** A bucket of the data stack, by its exported ARN and name. */
export interface ImportedBucket {
  readonly arn: string;
  readonly name: string;
}

export interface OrchestratorStackProps extends StackProps {
  readonly stateMachineName: string;
  readonly network: OrchestratorNetwork;
  readonly buckets: { readonly inputs: ImportedBucket; readonly outputs: ImportedBucket };
  readonly fleet: WorkflowFleet;
  readonly bedrockPolicy: iam.IManagedPolicy;
  /** The models bedrockPolicy grants: batch jobs may be created for these only. */
  readonly bedrockModelIds: readonly string[];
  readonly settings?: WorkflowSettings;
  /**
   * On-demand USD per GPU instance-hour, for the dashboard's GPU cost.
   * @default - the dashboard shows instance-hours only
   */
  readonly gpuUsdPerInstanceHour?: number;
}

/** The orchestrator: the generation workflow, its teardown backstop and a dashboard. */
export class OrchestratorStack extends Stack {
  readonly workflow: GenerationWorkflow;
  readonly backstop: TeardownBackstop;

  constructor(scope: Construct, id: string, props: OrchestratorStackProps) {
    super(scope, id, props);
    const bucket = (id: string, imported: ImportedBucket) =>
      s3.Bucket.fromBucketAttributes(this, id, { bucketArn: imported.arn, bucketName: imported.name });
    const buckets = { inputs: bucket('InputsBucket', props.buckets.inputs), outputs: bucket('OutputsBucket', props.buckets.outputs) };
    this.workflow = new GenerationWorkflow(this, 'Workflow', {
      stateMachineName: props.stateMachineName,
      network: props.network,
      buckets,
      fleet: props.fleet,
      bedrockPolicy: props.bedrockPolicy,
      bedrockModelIds: props.bedrockModelIds,
      settings: props.settings,
    });
    const stateMachine = this.workflow.stateMachine;
    Tags.of(stateMachine).add(INPUTS_BUCKET_TAG, buckets.inputs.bucketName);
    Tags.of(stateMachine).add(OUTPUTS_BUCKET_TAG, buckets.outputs.bucketName);
    this.backstop = new TeardownBackstop(this, 'TeardownBackstop', {
      stateMachine,
      autoScalingGroupName: props.fleet.autoScalingGroupName,
      autoScalingGroupArn: this.workflow.autoScalingGroupArn,
      network: props.network,
      logRetention: props.settings?.logRetention,
    });
    const dashboard = new RunDashboard(this, 'Dashboard', {
      dashboardName: props.stateMachineName,
      stateMachine,
      namespace: METRICS_NAMESPACE,
      fleet: { autoScalingGroupName: props.fleet.autoScalingGroupName, usdPerInstanceHour: props.gpuUsdPerInstanceHour },
    });

    const console = `https://${this.region}.console.aws.amazon.com`;
    new CfnOutput(this, 'StateMachineArn', {
      value: stateMachine.stateMachineArn,
      description: 'The generation workflow (raiden start finds it by name)',
    });
    new CfnOutput(this, 'StateMachineConsoleUrl', {
      value: `${console}/states/home?region=${this.region}#/statemachines/view/${stateMachine.stateMachineArn}`,
      description: 'Start a run here: "Start execution" with an input such as {"profiles": "s3://<InputsBucketName>/roles.jsonl"}',
    });
    new CfnOutput(this, 'StartExecutionCommand', {
      value: `aws stepfunctions start-execution --region ${this.region} --state-machine-arn ${stateMachine.stateMachineArn} --input '{"profiles":"s3://${buckets.inputs.bucketName}/roles.jsonl"}'`,
      description: 'Start a run from the AWS CLI (or: npx raiden start --profiles ./roles.jsonl)',
    });
    new CfnOutput(this, 'RunsLocation', {
      value: `s3://${buckets.outputs.bucketName}/runs/`,
      description: 'Each run writes its dataset under runs/<run id>/',
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: `${console}/cloudwatch/home?region=${this.region}#dashboards/dashboard/${dashboard.dashboard.dashboardName}`,
    });
  }
}
