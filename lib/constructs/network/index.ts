import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface FleetNetworkProps {
  /** Zones to create subnets in, or of the imported VPC. Explicit, so synth needs no AZ lookup. */
  readonly availabilityZones: readonly string[];
  /**
   * Import this VPC instead of creating one.
   * @default - a new VPC
   */
  readonly vpcId?: string;
  /**
   * Private subnets (with internet egress) of the imported VPC for the fleet and the orchestrator.
   * @default - the new VPC's private subnets
   */
  readonly subnetIds?: readonly string[];
  /**
   * CIDR of the new VPC.
   * @default '10.42.0.0/16'
   */
  readonly cidr?: string;
  /**
   * NAT gateways of the new VPC; the fleet pulls images and weights through them.
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * Retention of the VPC flow logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/**
 * Where the fleet and the orchestrator run: private subnets with NAT egress and an S3 gateway endpoint
 * (weights stay off the NAT), flow logs, and the orchestrator's security group, the only source the
 * fleet admits.
 */
export class FleetNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Security group for the orchestrator's Lambdas; the fleet admits its server ports only from it. */
  readonly orchestratorSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: FleetNetworkProps) {
    super(scope, id);
    if (props.vpcId) {
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: props.vpcId,
        availabilityZones: [...props.availabilityZones],
      });
      this.subnets = {
        subnets: (props.subnetIds ?? []).map((subnetId, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId)),
      };
    } else {
      const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
        retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      this.vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.42.0.0/16'),
        availabilityZones: [...props.availabilityZones],
        natGateways: props.natGateways ?? 1,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
        gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
        flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) } },
        // Restricting the default security group needs a custom-resource Lambda; nothing here uses it.
        restrictDefaultSecurityGroup: false,
      });
      this.subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    }
    this.orchestratorSecurityGroup = new ec2.SecurityGroup(this, 'OrchestratorSecurityGroup', {
      vpc: this.vpc,
      description: 'raiden orchestrator Lambdas; the only source admitted to the SGLang server ports',
      allowAllOutbound: true,
    });
  }
}
