import type { App } from 'aws-cdk-lib';
import { Tags } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { RaidenConfig } from './config.ts';
import { instanceFacts } from './instance-types.ts';
import { BedrockStack } from './stacks/bedrock-stack.ts';
import { DataStack } from './stacks/data-stack.ts';
import { FleetStack } from './stacks/fleet-stack.ts';
import { OrchestratorStack } from './stacks/orchestrator-stack.ts';
import { PROJECT_TAG, weightsBucketName as weightsBucket } from '../orchestrator/src/contract/deployed-names.ts';

export interface RaidenStacks {
  readonly data: DataStack;
  readonly fleet: FleetStack;
  readonly bedrock: BedrockStack;
  readonly orchestrator: OrchestratorStack;
}

/** Builds every stack from one parsed config. bin/raiden-app.ts and the tests both call this. */
export function createStacks(app: App, config: RaidenConfig): RaidenStacks {
  const env = { account: config.account, region: config.region };
  const name = (part: string) => `${config.stackPrefix}-${part}`;
  const logRetention = config.logRetentionDays as logs.RetentionDays;
  const weightsBucketName = weightsBucket(config.stackPrefix, config.account, config.region);

  const data = new DataStack(app, name('Data'), {
    env,
    description: 'raiden-datagen: S3 buckets for profiles, datasets and model weights',
    tempFileDays: config.tempFileDays,
    retainOutputs: config.retainOutputs,
    weightsBucketName,
  });
  const bedrock = new BedrockStack(app, name('Bedrock'), {
    env,
    description: 'raiden-datagen: Bedrock access scoped to the configured models',
    modelIds: config.bedrockModelIds,
  });
  const fleet = new FleetStack(app, name('Fleet'), {
    env,
    description: `raiden-datagen: ${config.instanceType} SGLang fleet (${config.layoutName}), scales to zero`,
    network: {
      availabilityZones: config.availabilityZones,
      vpcId: config.vpcId,
      subnetIds: config.subnetIds,
      cidr: config.vpcCidr,
      natGateways: config.natGateways,
      flowLogRetention: logRetention,
    },
    instance: { instanceType: config.instanceType, amiSsmParameter: config.amiSsmParameter, rootVolumeGiB: config.rootVolumeGiB },
    capacity: { type: config.capacity, reservationId: config.capacityReservationId },
    size: { max: config.maxInstances, desired: config.desiredInstances },
    servers: config.resolvedServers,
    runtime: { kind: config.sglangRuntime, image: config.sglangImage, pipVersion: config.sglangPipVersion },
    serving: { memFractionStatic: config.memFractionStatic, contextLength: config.contextLength },
    lifecycle: { idleMinutes: config.idleMinutes, maxHours: config.maxHours, healthTimeoutMinutes: config.healthTimeoutMinutes },
    hfTokenSecretName: config.hfTokenSecretName,
    weightsBucketName,
    logRetention,
    autoScalingGroupName: `${config.stackPrefix.toLowerCase()}-gpu-fleet`,
  });

  // The fleet stages weights from the data stack's bucket, which it names rather than imports.
  fleet.addStackDependency(data);
  // Named exports: the orchestrator's IAM findings then name the bucket by export, not by a hashed id.
  const exported = (bucket: 'inputs' | 'outputs') => ({
    arn: data.exportValue(data.buckets[bucket].bucketArn, { name: `${name('Data')}-${bucket}-bucket-arn` }),
    name: data.exportValue(data.buckets[bucket].bucketName, { name: `${name('Data')}-${bucket}-bucket-name` }),
  });
  const orchestrator = new OrchestratorStack(app, name('Orchestrator'), {
    env,
    description: 'raiden-datagen: Step Functions workflow that generates datasets on SGLang or Bedrock and always tears the fleet down',
    stateMachineName: `${config.stackPrefix.toLowerCase()}-generation`,
    network: { vpc: fleet.vpc, subnets: fleet.subnets, securityGroup: fleet.orchestratorSecurityGroup },
    buckets: { inputs: exported('inputs'), outputs: exported('outputs') },
    fleet: { autoScalingGroupName: fleet.autoScalingGroupName, servers: fleet.servers, apiKeySecret: fleet.apiKeySecret },
    bedrockPolicy: bedrock.policy,
    bedrockModelIds: config.bedrockModelIds,
    gpuUsdPerInstanceHour: instanceFacts(config.instanceType)?.onDemandUsdPerHour,
    settings: {
      // The instances give up on their own after healthTimeoutMinutes; wait a little longer than that.
      readinessTimeoutMinutes: Math.min(240, config.healthTimeoutMinutes + 10),
      bedrockModel: config.bedrockModelIds[0],
      logRetention,
    },
  });

  orchestrator.addStackDependency(data);
  for (const stack of [data, bedrock, fleet, orchestrator]) Tags.of(stack).add(PROJECT_TAG.key, PROJECT_TAG.value);
  return { data, fleet, bedrock, orchestrator };
}
