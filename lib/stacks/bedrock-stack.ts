import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { BedrockAccess } from '../constructs/bedrock-access/index.ts';

export interface BedrockStackProps extends StackProps {
  readonly modelIds: readonly string[];
}

/** The managed policy that scopes Bedrock calls to the configured models. */
export class BedrockStack extends Stack {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BedrockStackProps) {
    super(scope, id, props);
    this.policy = new BedrockAccess(this, 'Access', { modelIds: props.modelIds }).policy;
    new CfnOutput(this, 'BedrockPolicyArn', {
      value: this.policy.managedPolicyArn,
      description: 'Managed policy for Bedrock Converse / InvokeModel',
    });
  }
}
