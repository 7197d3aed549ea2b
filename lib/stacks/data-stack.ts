import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DataBuckets } from '../constructs/buckets/index.ts';

export interface DataStackProps extends StackProps {
  readonly tempFileDays: number;
  readonly retainOutputs: boolean;
  readonly weightsBucketName: string;
}

/** S3 buckets for profiles, datasets and model weights. */
export class DataStack extends Stack {
  readonly buckets: DataBuckets;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    this.buckets = new DataBuckets(this, 'Buckets', {
      tempFileDays: props.tempFileDays,
      retainOutputs: props.retainOutputs,
      weightsBucketName: props.weightsBucketName,
    });

    new CfnOutput(this, 'InputsBucketName', { value: this.buckets.inputs.bucketName, description: 'Upload character profiles here' });
    new CfnOutput(this, 'OutputsBucketName', { value: this.buckets.outputs.bucketName, description: 'Datasets and run reports' });
    new CfnOutput(this, 'WeightsBucketName', {
      value: this.buckets.weights.bucketName,
      description: 'Staged model weights; reference them as -c models=weights:<prefix>',
    });
    new CfnOutput(this, 'StageWeightsCommand', {
      value: `aws s3 sync ./<model-dir> s3://${this.buckets.weights.bucketName}/models/<model-name>/`,
      description: 'Copy local weights into the weights bucket, then deploy with -c models=weights:models/<model-name>',
    });
  }
}
