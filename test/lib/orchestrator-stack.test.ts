import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthApp, type SynthesizedApp } from '../support/cdk-app.ts';

let app: SynthesizedApp;
beforeAll(() => {
  app = synthApp();
});

const orchestratorSg = () => app.stacks.fleet.resolve(app.stacks.fleet.orchestratorSecurityGroup.securityGroupId);

describe('orchestrator stack', () => {
  it('every Lambda: Node.js 22, in the VPC with the orchestrator security group, X-Ray tracing, its own log group', () => {
    const functions = Object.values(app.orchestrator.findResources('AWS::Lambda::Function')) as { Properties: Record<string, unknown> }[];
    expect(functions).toHaveLength(7);
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

  it('IAM: scale only the fleet group, list only this state machine, Bedrock policy on GenerateBatch and Finalize only', () => {
    const policies = JSON.stringify(app.orchestrator.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(':autoScalingGroup:*:autoScalingGroupName/raiden-gpu-fleet');
    expect(policies).toContain(':stateMachine:raiden-generation');
    expect(policies).not.toMatch(/"Action":"s3:\*"|"s3:GetObject\*"|"s3:List\*"/);
    const roles = Object.entries(app.orchestrator.findResources('AWS::IAM::Role')).filter(([, role]) =>
      JSON.stringify(role).includes('Raiden-Bedrock:'),
    );
    expect(roles.map(([id]) => id).sort()).toEqual([expect.stringMatching(/Finalize/), expect.stringMatching(/GenerateBatch/)]);
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
