import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthApp, type SynthesizedApp } from '../support/cdk-app.ts';
import { DEFAULT_BEDROCK_MODEL } from '../../orchestrator/src/core/report/model-prices.ts';

let app: SynthesizedApp;
beforeAll(() => {
  app = synthApp();
});

const orchestratorSg = () => app.stacks.fleet.resolve(app.stacks.fleet.orchestratorSecurityGroup.securityGroupId);

describe('orchestrator stack', () => {
  it('every Lambda: Node.js 22, in the VPC with the orchestrator security group, X-Ray tracing, its own log group', () => {
    const functions = Object.values(app.orchestrator.findResources('AWS::Lambda::Function')) as { Properties: Record<string, unknown> }[];
    expect(functions).toHaveLength(8);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: expect.anything() },
        VpcConfig: {
          SecurityGroupIds: [expect.objectContaining({ 'Fn::ImportValue': expect.stringContaining('OrchestratorSecurityGroup') })],
        },
      });
    }
    expect(JSON.stringify(orchestratorSg())).toContain('OrchestratorSecurityGroup');
  });

  it('state machine: named, logs everything, X-Ray tracing, the bucket tags raiden start reads', () => {
    app.orchestrator.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'raiden-generation',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      Tags: Match.arrayWith([Match.objectLike({ Key: 'raiden:inputs-bucket' }), Match.objectLike({ Key: 'raiden:outputs-bucket' })]),
    });
  });

  it('EventBridge rule on ABORTED / TIMED_OUT / FAILED of this state machine invokes the backstop', () => {
    app.orchestrator.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [{ Ref: Match.stringLikeRegexp('WorkflowStateMachine') }], status: ['ABORTED', 'TIMED_OUT', 'FAILED'] },
      },
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 } })],
    });
  });

  it('IAM: scale only the fleet group, list only this state machine, Bedrock policy on GenerateBatch, Finalize and the batch service role only', () => {
    const policies = JSON.stringify(app.orchestrator.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(':autoScalingGroup:*:autoScalingGroupName/raiden-gpu-fleet');
    expect(policies).toContain(':stateMachine:raiden-generation');
    expect(policies).not.toMatch(/"Action":"s3:\*"|"s3:GetObject\*"|"s3:List\*"/);
    const roles = Object.entries(app.orchestrator.findResources('AWS::IAM::Role')).filter(([, role]) =>
      JSON.stringify(role).includes('Raiden-Bedrock:'),
    );
    expect(roles.map(([id]) => id).sort()).toEqual([
      expect.stringMatching(/BatchInferenceServiceRole/),
      expect.stringMatching(/Finalize/),
      expect.stringMatching(/GenerateBatch/),
    ]);
  });

  it('FleetStatus reads the scaling activities and may set the fleet group back to zero', () => {
    const policies = Object.entries(app.orchestrator.findResources('AWS::IAM::Policy')).filter(([id]) => id.includes('FleetStatus'));
    const text = JSON.stringify(policies);
    expect(text).toContain('autoscaling:DescribeScalingActivities');
    expect(text).toContain('autoscaling:SetDesiredCapacity');
    expect(text).toContain(':autoScalingGroup:*:autoScalingGroupName/raiden-gpu-fleet');
  });

  it('outputs the state machine ARN, the console link and a start command', () => {
    const outputs = app.orchestrator.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['StateMachineArn', 'StateMachineConsoleUrl', 'StartExecutionCommand', 'RunsLocation', 'DashboardUrl']),
    );
    expect(JSON.stringify(outputs.StateMachineConsoleUrl?.Value)).toContain(
      'console.aws.amazon.com/states/home?region=us-east-1#/statemachines/view/',
    );
  });

  it('cdk-nag: zero unacknowledged findings across all stacks', () => {
    expect(app.nagWarnings).toEqual([]);
  });

  it('a dashboard graphs the run metrics', () => {
    const body = JSON.stringify(app.orchestrator.findResources('AWS::CloudWatch::Dashboard'));
    for (const metric of ['SamplesAccepted', 'SamplesRejected', 'InputTokens', 'OutputTokens', 'Requests', 'BackendErrors'])
      expect(body).toContain(metric);
  });
});

describe('Bedrock batch inference and the writer lease', () => {
  const statements = (logicalIdPart: string) =>
    Object.entries(app.orchestrator.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.includes(logicalIdPart))
      .flatMap(
        ([, policy]) =>
          (policy as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] } } }).Properties.PolicyDocument.Statement,
      );

  it('the batch service role trusts only Bedrock for this account, and reads and writes only the runs’ temporary files', () => {
    const roles = app.orchestrator.findResources('AWS::IAM::Role');
    const [, role] = Object.entries(roles).find(([id]) => id.includes('BatchInferenceServiceRole')) ?? [];
    expect(JSON.stringify(role)).toContain('bedrock.amazonaws.com');
    expect(JSON.stringify(role)).toContain('aws:SourceAccount');
    const granted = statements('BatchInferenceServiceRole');
    expect(granted.map((statement) => statement.Action)).toEqual(
      expect.arrayContaining([['s3:GetObject', 's3:PutObject'], 's3:ListBucket']),
    );
    expect(JSON.stringify(granted)).toContain('/tmp/runs/*');
  });

  it('the batch service role may invoke the configured models (the deployment’s model grant), and nothing else of Bedrock', () => {
    const [, role] =
      Object.entries(app.orchestrator.findResources('AWS::IAM::Role')).find(([id]) => id.includes('BatchInferenceServiceRole')) ?? [];
    const managed = JSON.stringify((role as { Properties: { ManagedPolicyArns?: unknown } }).Properties.ManagedPolicyArns ?? []);
    // The Bedrock stack's managed policy, imported by its export.
    expect(managed).toMatch(/Bedrock/u);
    expect(JSON.stringify(statements('BatchInferenceServiceRole'))).not.toContain('bedrock:');
  });

  it('the batch inference Lambda creates and reads jobs, and passes only the batch service role, only to Bedrock', () => {
    const granted = statements('BatchInference');
    const pass = granted.find((statement) => statement.Action === 'iam:PassRole');
    expect(pass).toMatchObject({ Condition: { StringEquals: { 'iam:PassedToService': 'bedrock.amazonaws.com' } } });
    expect(JSON.stringify(pass?.Resource)).toContain('BatchInferenceServiceRole');
    expect(
      granted.some(
        (statement) =>
          JSON.stringify(statement.Action) === JSON.stringify(['bedrock:CreateModelInvocationJob', 'bedrock:GetModelInvocationJob']),
      ),
    ).toBe(true);
    const jobs = granted.find((statement) => statement.Sid === 'BatchJobs');
    const resources = JSON.stringify(jobs?.Resource);
    // Only the configured models: their inference profile, and the profile's foundation model in its Regions.
    expect(resources).not.toMatch(/foundation-model\/\*|inference-profile\/\*/u);
    expect(resources).toContain(`inference-profile/${DEFAULT_BEDROCK_MODEL}`);
    expect(resources).toContain(`:bedrock:*::foundation-model/${DEFAULT_BEDROCK_MODEL.replace(/^[a-z]+\./u, '')}`);
  });

  it('Plan may describe only this state machine’s executions (whether a lease holder still runs)', () => {
    const describe = statements('Plan').find((statement) => statement.Action === 'states:DescribeExecution');
    expect(JSON.stringify(describe?.Resource)).toMatch(/execution:raiden-generation:\*/u);
  });
});
