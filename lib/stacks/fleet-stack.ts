import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { CapacityType } from '../config.ts';
import type { ServerSpec } from '../fleet-layout.ts';
import { FleetNetwork } from '../constructs/network/index.ts';
import type { FleetNetworkProps } from '../constructs/network/index.ts';
import { GpuFleet, STATE_TAG } from '../constructs/gpu-fleet/index.ts';
import type { GpuInstanceSpec } from '../constructs/gpu-fleet/index.ts';
import { SglangServers } from '../constructs/sglang-servers/index.ts';
import type { SglangLifecycle, SglangRuntime } from '../constructs/sglang-servers/index.ts';

export interface FleetStackProps extends StackProps {
  readonly network: FleetNetworkProps;
  readonly instance: GpuInstanceSpec;
  readonly capacity: { readonly type: CapacityType; readonly reservationId?: string };
  readonly size: { readonly max: number; readonly desired: number };
  readonly servers: readonly ServerSpec[];
  readonly runtime: SglangRuntime;
  readonly serving: { readonly memFractionStatic: number; readonly contextLength?: number };
  readonly lifecycle: SglangLifecycle;
  readonly hfTokenSecretName?: string;
  readonly weightsBucketName: string;
  readonly logRetention: logs.RetentionDays;
  readonly autoScalingGroupName: string;
}

/**
 * The GPU fleet: network, SGLang servers' secrets, logs and boot script, and the auto-scaling group.
 * The orchestrator stack wires to the public properties.
 */
export class FleetStack extends Stack {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Give this to the orchestrator's Lambdas: the fleet admits its server ports only from it. */
  readonly orchestratorSecurityGroup: ec2.SecurityGroup;
  readonly fleetSecurityGroup: ec2.SecurityGroup;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly autoScalingGroupName: string;
  /** The server layout: names, models, GPUs and ports. */
  readonly servers: readonly ServerSpec[];
  readonly apiKeySecret: secretsmanager.ISecret;
  readonly logGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    // Seed the AZ lookup with the configured zones: the VPC checks its zones against the region's, and a
    // real lookup would need AWS credentials at synth time.
    this.node.setContext(`availability-zones:account=${this.account}:region=${this.region}`, [...props.network.availabilityZones]);
    const network = new FleetNetwork(this, 'Network', props.network);
    const sglang = new SglangServers(this, 'Sglang', {
      servers: props.servers,
      runtime: props.runtime,
      serving: props.serving,
      lifecycle: props.lifecycle,
      weightsBucketName: props.weightsBucketName,
      hfTokenSecretName: props.hfTokenSecretName,
      logRetention: props.logRetention,
    });
    const fleet = new GpuFleet(this, 'Gpu', {
      vpc: network.vpc,
      subnets: network.subnets,
      clientSecurityGroup: network.orchestratorSecurityGroup,
      serverPorts: props.servers.map((server) => server.port),
      userData: sglang.userData,
      instance: props.instance,
      capacity: props.capacity,
      size: props.size,
      autoScalingGroupName: props.autoScalingGroupName,
    });
    sglang.grantToInstances(fleet.role);

    this.vpc = network.vpc;
    this.subnets = network.subnets;
    this.orchestratorSecurityGroup = network.orchestratorSecurityGroup;
    this.fleetSecurityGroup = fleet.securityGroup;
    this.autoScalingGroup = fleet.autoScalingGroup;
    this.autoScalingGroupName = props.autoScalingGroupName;
    this.servers = props.servers;
    this.apiKeySecret = sglang.apiKeySecret;
    this.logGroup = sglang.logGroup;

    const asg = props.autoScalingGroupName;
    const region = `--region ${this.region}`;
    const firstInstance = `$(aws autoscaling describe-auto-scaling-groups ${region} --auto-scaling-group-names ${asg} --query 'AutoScalingGroups[0].Instances[0].InstanceId' --output text)`;
    new CfnOutput(this, 'AutoScalingGroupName', { value: asg });
    new CfnOutput(this, 'ScaleUpCommand', {
      value: `aws autoscaling set-desired-capacity ${region} --auto-scaling-group-name ${asg} --desired-capacity 1`,
      description: 'Start one GPU instance (billed until it scales in)',
    });
    new CfnOutput(this, 'ScaleDownCommand', {
      value: `aws autoscaling set-desired-capacity ${region} --auto-scaling-group-name ${asg} --desired-capacity 0`,
      description: 'Stop every GPU instance',
    });
    new CfnOutput(this, 'FleetStateCommand', {
      value:
        `aws ec2 describe-instances ${region} --filters Name=tag:aws:autoscaling:groupName,Values=${asg} ` +
        `Name=instance-state-name,Values=pending,running,stopping --query "Reservations[].Instances[].[InstanceId,InstanceType,State.Name,Tags[?Key=='${STATE_TAG}']|[0].Value]" --output table`,
      description: `Instances of the fleet with their ${STATE_TAG} tag (booting, ready, failed, scaling-in)`,
    });
    new CfnOutput(this, 'SsmSessionCommand', {
      value: `aws ssm start-session ${region} --target ${firstInstance}`,
      description: 'Shell on the first fleet instance through Session Manager (no SSH)',
    });
    new CfnOutput(this, 'ServerEndpoints', {
      value: props.servers.map((server) => `${server.name}=http://<instance private IP>:${server.port}/v1 (${server.model})`).join(' '),
      description: 'SGLang OpenAI-compatible endpoints, reachable from the orchestrator security group',
    });
    new CfnOutput(this, 'ApiKeyCommand', {
      value: `aws secretsmanager get-secret-value ${region} --secret-id ${sglang.apiKeySecret.secretArn} --query SecretString --output text`,
      description: 'The API key the SGLang servers require',
    });
    new CfnOutput(this, 'ServerLogGroup', { value: sglang.logGroup.logGroupName });
  }
}
