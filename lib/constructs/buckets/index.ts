import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { RESPONSE_CACHE_DAYS, RESPONSE_CACHE_PREFIX } from '../../../orchestrator/src/contract/response-cache.ts';
import { DEFAULT_TEMP_PREFIX as TEMP_PREFIX } from '../../../orchestrator/src/contract/run-layout.ts';
const ACCESS_LOG_DAYS = 90;
const NONCURRENT_OUTPUT_DAYS = 30;

export interface DataBucketsProps {
  /**
   * Days after which objects under `tmp/` in the inputs and outputs buckets expire.
   * @default 7
   */
  readonly tempFileDays?: number;
  /**
   * Keep the outputs bucket (and the access-log bucket) when the stack is destroyed. When false,
   * `cdk destroy` empties and deletes every bucket.
   * @default false
   */
  readonly retainOutputs?: boolean;
  /**
   * Physical name of the weights bucket. The fleet stack refers to it by this name, so the two stacks
   * share no CloudFormation export and users know where to stage weights before the first deploy.
   * @default - generated
   */
  readonly weightsBucketName?: string;
}

/**
 * The deployment's S3 buckets: inputs (profiles), outputs (datasets, versioned, and the workflow's response
 * cache), model weights, and the access-log bucket they all log to. All block public access, require TLS
 * and are encrypted.
 */
export class DataBuckets extends Construct {
  readonly accessLogs: s3.Bucket;
  readonly inputs: s3.Bucket;
  readonly outputs: s3.Bucket;
  readonly weights: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataBucketsProps = {}) {
    super(scope, id);
    const tempFileDays = props.tempFileDays ?? 7;
    const retain = props.retainOutputs ?? false;
    const lifetime = (keep: boolean) =>
      keep ? { removalPolicy: RemovalPolicy.RETAIN } : { removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true };
    const secure = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    };
    const abortUploads: s3.LifecycleRule = { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) };
    const expireTemp: s3.LifecycleRule = { id: 'expire-temporary-run-files', prefix: TEMP_PREFIX, expiration: Duration.days(tempFileDays) };

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      ...lifetime(retain),
      lifecycleRules: [abortUploads, { id: 'expire-access-logs', expiration: Duration.days(ACCESS_LOG_DAYS) }],
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket the other buckets log to; logging it into itself would loop.',
    });
    const logged = (name: string) => ({ serverAccessLogsBucket: this.accessLogs, serverAccessLogsPrefix: `${name}/` });

    this.inputs = new s3.Bucket(this, 'Inputs', {
      ...secure,
      ...lifetime(false),
      ...logged('inputs'),
      lifecycleRules: [abortUploads, expireTemp],
    });
    this.outputs = new s3.Bucket(this, 'Outputs', {
      ...secure,
      ...lifetime(retain),
      ...logged('outputs'),
      versioned: true,
      lifecycleRules: [
        abortUploads,
        expireTemp,
        { id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(NONCURRENT_OUTPUT_DAYS) },
        // A cached answer is worth keeping while runs may repeat; an expired one costs at most one more call.
        // Versioning would keep each expired answer 30 more days: one is enough to undo a mistake.
        {
          id: 'expire-cached-responses',
          prefix: RESPONSE_CACHE_PREFIX,
          expiration: Duration.days(RESPONSE_CACHE_DAYS),
          noncurrentVersionExpiration: Duration.days(1),
        },
      ],
    });
    this.weights = new s3.Bucket(this, 'Weights', {
      bucketName: props.weightsBucketName,
      ...secure,
      ...lifetime(false),
      ...logged('weights'),
      lifecycleRules: [abortUploads],
    });
  }
}
