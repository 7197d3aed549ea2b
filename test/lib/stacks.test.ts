import { beforeAll, describe, expect, it } from 'vitest';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { Stack } from 'aws-cdk-lib';
import { gunzipSync } from 'node:zlib';
import { synthApp } from '../support/cdk-app.ts';
import type { SynthesizedApp } from '../support/cdk-app.ts';
import { RUN_METRIC_NAMES, SGLANG_METRICS_NAMESPACE, SGLANG_SERVER_METRICS } from '../../orchestrator/src/contract/deployed-names.ts';

let tp8: SynthesizedApp;
let tp4x2: SynthesizedApp;

beforeAll(() => {
  tp8 = synthApp();
  tp4x2 = synthApp({
    layout: 'tp4x2',
    models: 'Qwen/Qwen2.5-72B-Instruct,weights:models/Qwen3-32B',
    capacity: 'capacity-block',
    capacityReservationId: 'cr-0123456789abcdef0',
    maxInstances: 2,
    desiredInstances: 1,
    retainOutputs: true,
  });
});

/** The boot script inside the launch template, with its gzipped jobs unpacked. */
function userDataOf(app: SynthesizedApp): string {
  const templates = app.fleet.findResources('AWS::EC2::LaunchTemplate');
  const [template] = Object.values(templates) as { Properties: { LaunchTemplateData: { UserData: { 'Fn::Base64': unknown } } } }[];
  const joined = JSON.stringify(template?.Properties.LaunchTemplateData.UserData['Fn::Base64']);
  const packed = /<<'RAIDEN_JOBS'\\n([\s\S]*?)RAIDEN_JOBS/.exec(joined)?.[1]?.replace(/\\n/g, '') ?? '';
  return `${joined}\n${gunzipSync(Buffer.from(packed, 'base64')).toString('utf8')}`;
}

describe('fleet stack', () => {
  it('launch template: p5en.48xlarge, IMDSv2 required, encrypted gp3 root volume, DLAMI from SSM, no SSH key', () => {
    tp8.fleet.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceType: 'p5en.48xlarge',
        MetadataOptions: { HttpTokens: 'required' },
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/sda1',
            Ebs: Match.objectLike({ Encrypted: true, VolumeType: 'gp3', VolumeSize: 300, Throughput: 1000, Iops: 4000 }),
          },
        ],
        KeyName: Match.absent(),
      }),
    });
    expect(JSON.stringify(tp8.fleet.toJSON().Parameters)).toContain(
      '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id',
    );
  });

  it('auto-scaling group rests at min 0 and leaves desired capacity unset by default', () => {
    tp8.fleet.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '0',
      MaxSize: '1',
      DesiredCapacity: Match.absent(),
      AutoScalingGroupName: 'raiden-gpu-fleet',
    });
  });

  it('stands the fleet up at the configured size and targets the Capacity Block when asked', () => {
    tp4x2.fleet.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '0', MaxSize: '2', DesiredCapacity: '1' });
    tp4x2.fleet.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceMarketOptions: { MarketType: 'capacity-block' },
        CapacityReservationSpecification: { CapacityReservationTarget: { CapacityReservationId: 'cr-0123456789abcdef0' } },
      }),
    });
  });

  it('spot capacity uses a spot-only mixed instances policy', () => {
    const spot = synthApp({ capacity: 'spot' });
    spot.fleet.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      CapacityRebalance: true,
      MixedInstancesPolicy: Match.objectLike({
        InstancesDistribution: Match.objectLike({
          OnDemandPercentageAboveBaseCapacity: 0,
          SpotAllocationStrategy: 'price-capacity-optimized',
        }),
      }),
    });
  });

  it.each([
    ['tp8', () => tp8, [30000]],
    ['tp4x2', () => tp4x2, [30000, 30001]],
  ] as const)('%s: server ports admitted only from the orchestrator security group', (_name, app, ports) => {
    const orchestratorSg = app().stacks.fleet.resolve(app().stacks.fleet.orchestratorSecurityGroup.securityGroupId);
    const ingress = app().fleet.findResources('AWS::EC2::SecurityGroupIngress');
    expect(Object.values(ingress).map((r) => (r as { Properties: Record<string, unknown> }).Properties)).toEqual(
      ports.map((port) =>
        expect.objectContaining({ IpProtocol: 'tcp', FromPort: port, ToPort: port, SourceSecurityGroupId: orchestratorSg }),
      ),
    );
    const everyGroup = JSON.stringify(app().fleet.findResources('AWS::EC2::SecurityGroup'));
    expect(everyGroup).not.toMatch(/"SecurityGroupIngress"/);
    expect(JSON.stringify(app().fleet.toJSON())).not.toMatch(/"CidrIp":"0\.0\.0\.0\/0","Description":"[^"]*","FromPort"/);
  });

  it('instance role: tag itself and scale in only its own group; read its secrets; write its logs', () => {
    tp8.fleet.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'TagSelfState',
            Action: 'ec2:CreateTags',
            Condition: {
              StringEquals: { 'ec2:ResourceTag/aws:autoscaling:groupName': 'raiden-gpu-fleet' },
              'ForAllValues:StringEquals': { 'aws:TagKeys': ['raiden:state'] },
            },
          }),
          Match.objectLike({
            Sid: 'ScaleInOwnGroup',
            Action: 'autoscaling:TerminateInstanceInAutoScalingGroup',
            Resource: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':autoscaling:us-east-1:000000000000:autoScalingGroup:*:autoScalingGroupName/raiden-gpu-fleet',
                ],
              ],
            },
          }),
          Match.objectLike({
            Sid: 'ReadServerSecrets',
            Action: 'secretsmanager:GetSecretValue',
            Resource: Match.objectLike({ Ref: Match.stringLikeRegexp('SglangApiKey') }),
          }),
          Match.objectLike({ Sid: 'WriteServerLogs', Action: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'] }),
        ]),
      },
    });
    tp8.fleet.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] }],
    });
  });

  it('grants read on exactly the staged weights prefix for weights: models, and for Hugging Face ones where raiden weights stage copies them', () => {
    tp4x2.fleet.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:ListBucket',
            Condition: { StringLike: { 's3:prefix': ['models/Qwen3-32B/*', 'models/Qwen3-32B'] } },
          }),
          Match.objectLike({
            Action: 's3:GetObject',
            Resource: {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::raiden-weights-000000000000-us-east-1/models/Qwen3-32B/*']],
            },
          }),
        ]),
      },
    });
    tp8.fleet.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:ListBucket',
            Condition: {
              StringLike: { 's3:prefix': ['huggingface/Qwen/Qwen2.5-72B-Instruct/*', 'huggingface/Qwen/Qwen2.5-72B-Instruct'] },
            },
          }),
          Match.objectLike({
            Action: 's3:GetObject',
            Resource: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':s3:::raiden-weights-000000000000-us-east-1/huggingface/Qwen/Qwen2.5-72B-Instruct/*'],
              ],
            },
          }),
        ]),
      },
    });
  });

  it('an instance that powers itself off terminates, so a boot that cannot scale in stops billing', () => {
    tp8.fleet.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceInitiatedShutdownBehavior: 'terminate' }),
    });
  });

  it('keeps the API key in Secrets Manager and logs in CloudWatch', () => {
    tp8.fleet.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ ExcludePunctuation: true, PasswordLength: 48 }),
    });
    tp8.fleet.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    tp8.fleet.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL' });
  });

  it('user-data writes one unit per server with its GPUs and ports, and no placeholder is left', () => {
    const tp8UserData = userDataOf(tp8);
    const tp4x2UserData = userDataOf(tp4x2);
    expect(tp8UserData).toContain('Environment=CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7');
    expect(tp8UserData).toMatch(/--tp-size 8 --host 0\.0\.0\.0 --port 30000 --nccl-port 40000 --enable-metrics/);
    expect(tp4x2UserData).toContain('Environment=CUDA_VISIBLE_DEVICES=4,5,6,7');
    expect(tp4x2UserData).toMatch(/--served-model-name Qwen3-32B --tp-size 4 --host 0\.0\.0\.0 --port 30001 --nccl-port 40100/);
    for (const script of [tp8UserData, tp4x2UserData]) expect(script).not.toMatch(/\{\{[A-Z0-9_]+\}\}/);
  });

  it('outputs the SSM session, fleet state and scale commands', () => {
    const outputs = tp8.fleet.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'SsmSessionCommand',
        'FleetStateCommand',
        'ScaleUpCommand',
        'ScaleDownCommand',
        'AutoScalingGroupName',
        'ApiKeyCommand',
      ]),
    );
    expect(JSON.stringify(outputs.SsmSessionCommand?.Value)).toContain('aws ssm start-session --region us-east-1 --target');
  });

  it('exposes what the orchestrator stack will wire to', () => {
    const { fleet } = tp4x2.stacks;
    expect(fleet.servers.map((s) => s.port)).toEqual([30000, 30001]);
    expect(fleet.autoScalingGroupName).toBe('raiden-gpu-fleet');
    expect(fleet.orchestratorSecurityGroup).toBeDefined();
    expect(fleet.apiKeySecret).toBeDefined();
    expect(tp4x2.stacks.bedrock.policy).toBeDefined();
  });
});

describe('dashboard: per-run progress and cost, GPU fleet cost, SGLang server metrics', () => {
  interface GraphMetric {
    readonly expression?: string;
    readonly label?: string;
    readonly id?: string;
  }
  interface Widget {
    readonly type: string;
    readonly properties: { readonly title?: string; readonly metrics?: (string | GraphMetric)[][] };
  }

  /** The dashboard body as the console reads it, CloudFormation references replaced by a marker. */
  function dashboardOf(app: SynthesizedApp): Widget[] {
    const [dashboard] = Object.values(app.orchestrator.findResources('AWS::CloudWatch::Dashboard')) as {
      Properties: { DashboardBody: { 'Fn::Join': [string, unknown[]] } };
    }[];
    const parts = dashboard?.Properties.DashboardBody['Fn::Join'][1] ?? [];
    return (JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'REF')).join('')) as { widgets: Widget[] }).widgets;
  }

  function graph(app: SynthesizedApp, title: string): (string | GraphMetric)[][] {
    const widget = dashboardOf(app).find((w) => w.properties.title === title);
    if (!widget) throw new Error(`no widget "${title}"`);
    return widget.properties.metrics ?? [];
  }

  const expressions = (metrics: (string | GraphMetric)[][]) =>
    metrics.flatMap((line) => line.filter((item): item is GraphMetric => typeof item === 'object' && item.expression !== undefined));

  it('per run: accepted and rejected so far, from a SEARCH over RunId, so a new run needs no redeploy', () => {
    expect(expressions(graph(tp8, 'Progress per run: samples accepted and rejected so far'))).toEqual([
      { label: 'accepted', expression: `RUNNING_SUM(SEARCH('{"Raiden","RunId"} MetricName="SamplesAccepted"', 'Sum', 300))` },
      { label: 'rejected', expression: `RUNNING_SUM(SEARCH('{"Raiden","RunId"} MetricName="SamplesRejected"', 'Sum', 300))` },
    ]);
  });

  it('per run: Bedrock cost so far, from the BedrockCostUsd run metric', () => {
    expect(RUN_METRIC_NAMES).toContain('BedrockCostUsd');
    expect(expressions(graph(tp8, 'Bedrock cost per run so far (USD)'))).toEqual([
      { expression: `RUNNING_SUM(SEARCH('{"Raiden","RunId"} MetricName="BedrockCostUsd"', 'Sum', 300))` },
    ]);
  });

  it("GPU cost: the group's in-service instances (collected every minute) times the instance type's on-demand price", () => {
    tp8.fleet.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MetricsCollection: [{ Granularity: '1Minute', Metrics: ['GroupInServiceInstances'] }],
    });
    const metrics = graph(tp8, 'GPU fleet: instances in service and cost so far');
    expect(metrics[0]?.slice(0, 4)).toEqual(['AWS/AutoScaling', 'GroupInServiceInstances', 'AutoScalingGroupName', 'raiden-gpu-fleet']);
    expect(metrics[0]?.[4]).toMatchObject({ id: 'inService', period: 60 });
    expect(expressions(metrics)).toEqual([
      expect.objectContaining({ expression: 'RUNNING_SUM(FILL(inService, 0) * PERIOD(inService) / 3600 * 63.3)' }),
    ]);
    const unknownType = synthApp({ instanceType: 'p6-b200.48xlarge', gpuCount: 8 });
    expect(expressions(graph(unknownType, 'GPU fleet: instances in service and cost so far'))).toEqual([
      expect.objectContaining({ expression: 'RUNNING_SUM(FILL(inService, 0) * PERIOD(inService) / 3600)', label: 'instance-hours so far' }),
    ]);
  });

  it.each([
    ['Running requests per server', 'sglang:num_running_reqs', 'Maximum'],
    ['Queued requests per server', 'sglang:num_queue_reqs', 'Maximum'],
    ['Generation throughput per server (tokens/s)', 'sglang:gen_throughput', 'Average'],
    ['Prefix cache hit rate per server', 'sglang:cache_hit_rate', 'Average'],
  ])('SGLang: "%s" searches %s by instance and server', (title, metric, statistic) => {
    expect(metric in SGLANG_SERVER_METRICS).toBe(true);
    expect(expressions(graph(tp8, title))).toEqual([
      expect.objectContaining({
        expression: `SEARCH('{"${SGLANG_METRICS_NAMESPACE}","InstanceId","Server"} MetricName="${metric}"', '${statistic}', 60)`,
      }),
    ]);
  });

  it("the instances ship SGLang's metrics as embedded-metric-format log events: log writes on their log group, no PutMetricData", () => {
    const statements = Object.values(tp8.fleet.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: { Sid?: string; Action: unknown; Resource: unknown }[] } } }).Properties
          .PolicyDocument.Statement,
    );
    const logWrites = statements.find((statement) => statement.Sid === 'WriteServerLogs');
    expect(logWrites?.Action).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    expect(logWrites?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^SglangLogs/), 'Arn'] });
    expect(
      statements.flatMap((statement) => [statement.Action].flat()).filter((action) => String(action).startsWith('cloudwatch:')),
    ).toEqual([]);
  });
});

describe('data stack', () => {
  it('every bucket blocks public access, is encrypted and logs to the access-log bucket', () => {
    const buckets = Object.entries(tp8.data.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(4);
    for (const [, bucket] of buckets) {
      expect(bucket).toMatchObject({
        Properties: {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        },
        UpdateReplacePolicy: 'Delete',
        DeletionPolicy: 'Delete',
      });
    }
    expect(buckets.filter(([, b]) => JSON.stringify(b).includes('LoggingConfiguration'))).toHaveLength(3);
  });

  it('outputs bucket is versioned and expires temporary run files and old versions', () => {
    tp8.data.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'expire-temporary-run-files', Prefix: 'tmp/', ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ Id: 'expire-old-versions', NoncurrentVersionExpiration: { NoncurrentDays: 30 } }),
        ]),
      },
    });
  });

  it('weights bucket has the name the fleet stages from', () => {
    tp8.data.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'raiden-weights-000000000000-us-east-1' });
  });

  it('every bucket policy denies plain HTTP', () => {
    const policies = Object.values(tp8.data.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(4);
    for (const policy of policies) {
      expect(JSON.stringify(policy)).toMatch(/"Condition":\{"Bool":\{"aws:SecureTransport":"false"\}\},"Effect":"Deny"/);
    }
  });

  it('cdk destroy empties and deletes the buckets, unless retainOutputs keeps outputs and logs', () => {
    tp8.data.resourceCountIs('Custom::S3AutoDeleteObjects', 4);
    tp4x2.data.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    expect(Object.values(tp4x2.data.findResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain' }))).toHaveLength(2);
  });
});

describe('bedrock stack', () => {
  it('allows InvokeModel only on the configured inference profile and, through it, its model', () => {
    tp8.bedrock.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Sid: 'InvokeConfiguredModels',
            Effect: 'Allow',
            Action: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
            Resource: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':bedrock:us-east-1:000000000000:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0',
                ],
              ],
            },
          },
          {
            Sid: 'InvokeModelsThroughProfiles',
            Effect: 'Allow',
            Action: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
            Resource: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0'],
              ],
            },
            Condition: {
              StringEquals: {
                'bedrock:InferenceProfileArn': [
                  {
                    'Fn::Join': [
                      '',
                      [
                        'arn:',
                        { Ref: 'AWS::Partition' },
                        ':bedrock:us-east-1:000000000000:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0',
                      ],
                    ],
                  },
                ],
              },
            },
          },
        ],
      },
    });
  });
});

describe('IAM across every stack', () => {
  /** Every IAM statement of a template: policies, managed policies and roles' inline policies. */
  function statements(template: SynthesizedApp['fleet']): { where: string; Action?: unknown; Resource?: unknown }[] {
    const json = template.toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
    return Object.entries(json.Resources).flatMap(([id, resource]) => {
      const documents: unknown[] =
        resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy'
          ? [resource.Properties?.PolicyDocument]
          : resource.Type === 'AWS::IAM::Role'
            ? ((resource.Properties?.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map((policy) => policy.PolicyDocument)
            : [];
      return documents.flatMap((document) =>
        [(document as { Statement?: unknown[] } | undefined)?.Statement ?? []].flat().map((statement) => ({
          where: id,
          ...(statement as { Action?: unknown; Resource?: unknown }),
        })),
      );
    });
  }

  it.each([
    ['tp8', () => tp8],
    ['tp4x2', () => tp4x2],
  ])('%s: no statement of any role grants an S3 action on "*"', (_name, app) => {
    for (const template of [app().data, app().fleet, app().bedrock, app().orchestrator]) {
      const everywhere = statements(template).filter(
        (statement) =>
          [statement.Resource].flat().includes('*') && [statement.Action].flat().some((action) => String(action).startsWith('s3:')),
      );
      expect(everywhere).toEqual([]);
    }
  });

  it("the state machine's Map results land under the outputs bucket's temporary prefix only", () => {
    const mapResults = statements(tp8.orchestrator).filter((statement) =>
      [statement.Action].flat().includes('s3:ListMultipartUploadParts'),
    );
    expect(mapResults).toHaveLength(1);
    expect(JSON.stringify(mapResults[0]?.Resource)).toMatch(/\/tmp\/\*"\]\]\}$/u);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['tp8', () => tp8],
    ['tp4x2', () => tp4x2],
  ])('%s: no unacknowledged findings and no warnings or errors', (_name, app) => {
    expect(app().nagWarnings).toEqual([]);
    for (const stack of [app().stacks.data, app().stacks.fleet, app().stacks.bedrock] as Stack[]) {
      const annotations = Annotations.fromStack(stack);
      expect(annotations.findError('*', Match.anyValue())).toEqual([]);
      expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    }
  });
});
