import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { CapacityType } from '../../config.ts';
import { SELF_SCALE_IN_ACTIONS, SELF_TAG_ACTIONS } from '../../iam-actions.ts';
import { acknowledgeManagedPolicy, acknowledgeWildcardResource } from '../../nag-acknowledgements.ts';

/**
 * The root volume takes the container image and, without the instance store, the weights (about 145 GB for a
 * 72B model): gp3's baseline of 125 MiB/s makes that about 18 minutes. 1,000 MiB/s needs at least 4,000 IOPS
 * (0.25 MiB/s per provisioned IOPS): https://docs.aws.amazon.com/ebs/latest/userguide/general-purpose.html#gp3-ebs-volume-type
 */
const ROOT_VOLUME_PERFORMANCE = { throughput: 1000, iops: 4000 } as const;

/** The tag key instances set on themselves (booting, ready, failed, scaling-in). */
export const STATE_TAG = 'raiden:state';

export interface GpuInstanceSpec {
  /** EC2 instance type, for example p5en.48xlarge. */
  readonly instanceType: string;
  /** Public SSM parameter holding the AMI id (the Deep Learning AMI). */
  readonly amiSsmParameter: string;
  /** Size of the encrypted gp3 root volume, which holds the container image and the OS. */
  readonly rootVolumeGiB: number;
}

export interface GpuFleetProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** The only source admitted to the server ports. */
  readonly clientSecurityGroup: ec2.ISecurityGroup;
  /** TCP ports the servers listen on. */
  readonly serverPorts: readonly number[];
  /** Boot script that starts the servers. */
  readonly userData: ec2.UserData;
  readonly instance: GpuInstanceSpec;
  /** Name of the auto-scaling group; fixed so instances can be allowed to scale exactly this group in. */
  readonly autoScalingGroupName: string;
  /**
   * How instances are bought. `capacity-reservation` and `capacity-block` need `reservationId`.
   * @default - on-demand
   */
  readonly capacity?: { readonly type: CapacityType; readonly reservationId?: string };
  /**
   * Maximum and initial size of the group. The group's minimum is always 0.
   * @default - { max: 1, desired: 0 }
   */
  readonly size?: { readonly max: number; readonly desired: number };
}

/**
 * GPU instances in an auto-scaling group that rests at zero: launch template with the Deep Learning AMI,
 * IMDSv2 only, encrypted root volume, Session Manager instead of SSH, and a security group that admits
 * the server ports only from the client security group.
 */
export class GpuFleet extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly role: iam.Role;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;

  constructor(scope: Construct, id: string, props: GpuFleetProps) {
    super(scope, id);
    const capacity = props.capacity ?? { type: 'on-demand' };
    const size = props.size ?? { max: 1, desired: 0 };
    const stack = Stack.of(this);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'raiden GPU fleet: SGLang ports from the orchestrator only; egress for images, weights, AWS APIs',
      allowAllOutbound: true,
    });
    for (const port of props.serverPorts) {
      this.securityGroup.addIngressRule(props.clientSecurityGroup, ec2.Port.tcp(port), `SGLang server on ${port} from the orchestrator`);
    }

    const ssmCore = iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore');
    this.role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'raiden GPU fleet instances: read weights and secrets, write logs, tag and scale in themselves',
      managedPolicies: [ssmCore],
    });
    acknowledgeManagedPolicy(
      this.role,
      ssmCore.managedPolicyArn,
      'AmazonSSMManagedInstanceCore is the AWS-maintained minimum for the SSM agent and Session Manager, ' +
        'which replace SSH on the fleet; an inline copy would drift from what the agent needs.',
    );
    const anyInstance = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TagSelfState',
        actions: SELF_TAG_ACTIONS,
        resources: [anyInstance],
        conditions: {
          StringEquals: { 'ec2:ResourceTag/aws:autoscaling:groupName': props.autoScalingGroupName },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [STATE_TAG] },
        },
      }),
    );
    acknowledgeWildcardResource(
      this.role,
      anyInstance,
      'Instance ids are unknown until launch; conditions limit CreateTags to instances of this auto-scaling ' +
        'group and to the raiden:state tag key.',
    );
    const ownGroup = stack.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: `*:autoScalingGroupName/${props.autoScalingGroupName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ScaleInOwnGroup', actions: SELF_SCALE_IN_ACTIONS, resources: [ownGroup] }),
    );
    acknowledgeWildcardResource(
      this.role,
      ownGroup,
      'The wildcard is the generated id inside an auto-scaling group ARN; the group name pins the one group.',
    );

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(props.instance.instanceType),
      machineImage: ec2.MachineImage.fromSsmParameter(props.instance.amiSsmParameter, { os: ec2.OperatingSystemType.LINUX }),
      userData: props.userData,
      role: this.role,
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      // A boot that cannot reach the auto-scaling API powers off as its last resort; that must end the billing.
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
      blockDevices: [
        {
          deviceName: '/dev/sda1',
          volume: ec2.BlockDeviceVolume.ebs(props.instance.rootVolumeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            ...ROOT_VOLUME_PERFORMANCE,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });
    if (capacity.type === 'capacity-reservation' || capacity.type === 'capacity-block') {
      const template = this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate;
      template.addPropertyOverride('LaunchTemplateData.CapacityReservationSpecification', {
        CapacityReservationTarget: { CapacityReservationId: capacity.reservationId },
      });
      if (capacity.type === 'capacity-block') {
        template.addPropertyOverride('LaunchTemplateData.InstanceMarketOptions', { MarketType: 'capacity-block' });
      }
    }

    const spot = capacity.type === 'spot';
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      autoScalingGroupName: props.autoScalingGroupName,
      minCapacity: 0,
      maxCapacity: size.max,
      // Left unset at 0 so a redeploy never resets a group the orchestrator has scaled up.
      desiredCapacity: size.desired > 0 ? size.desired : undefined,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(15) }),
      // The dashboard prices GPU time from it; group metrics are free, at one-minute granularity.
      groupMetrics: [new autoscaling.GroupMetrics(autoscaling.GroupMetric.IN_SERVICE_INSTANCES)],
      ...(spot
        ? {
            capacityRebalance: true,
            mixedInstancesPolicy: {
              launchTemplate: this.launchTemplate,
              instancesDistribution: {
                onDemandBaseCapacity: 0,
                onDemandPercentageAboveBaseCapacity: 0,
                spotAllocationStrategy: autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
              },
            },
          }
        : { launchTemplate: this.launchTemplate }),
    });
    if (spot) {
      Validations.of(this.autoScalingGroup).acknowledge({
        id: 'AwsSolutions-EC26',
        reason:
          'The rule cannot follow the launch template reference inside a mixed-instances policy; that ' +
          'template has a single, encrypted root volume (blockDevices above).',
      });
    }
    if (size.desired > 0) {
      Validations.of(this.autoScalingGroup).acknowledge({
        id: '@aws-cdk/aws-autoscaling:desiredCapacitySet',
        reason: 'desiredInstances > 0 was asked for explicitly: every deploy then sets the group to that size.',
      });
    }
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'The orchestrator and the instances themselves scale this group; the activity history and the ' +
        'raiden:state tag record every change, and nobody would subscribe to a notification topic.',
    });
  }
}
