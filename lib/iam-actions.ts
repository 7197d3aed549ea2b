/**
 * Every IAM action list the stacks grant, in one place. Each list is the least a caller needs; the
 * constructs scope them to specific resources.
 */

/** Converse and InvokeModel both authorize as bedrock:InvokeModel; streaming variants need the second. */
export const BEDROCK_INVOKE_ACTIONS = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

/** What the CloudWatch agent on a fleet instance calls to ship logs into an existing log group. */
export const LOG_WRITE_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'];

/** Reading the SGLang API key and the Hugging Face token. */
export const SECRET_READ_ACTIONS = ['secretsmanager:GetSecretValue'];

/** `aws s3 sync` of a weights prefix: list the prefix, get the objects. */
export const WEIGHTS_LIST_ACTIONS = ['s3:ListBucket'];
export const WEIGHTS_READ_ACTIONS = ['s3:GetObject'];

/** An instance tags itself with its state (raiden:state = booting, ready, failed, scaling-in). */
export const SELF_TAG_ACTIONS = ['ec2:CreateTags'];

/** An instance scales its own group in: terminate itself and decrement the desired capacity. */
export const SELF_SCALE_IN_ACTIONS = ['autoscaling:TerminateInstanceInAutoScalingGroup'];
