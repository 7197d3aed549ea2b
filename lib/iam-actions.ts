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

/** The orchestrator reads the fleet's size and members; Describe calls take no resource-level permissions. */
export const FLEET_DESCRIBE_ACTIONS = ['autoscaling:DescribeAutoScalingGroups', 'ec2:DescribeInstances'];

/** FleetStatus reads why launches fail (capacity, quota, unsupported zone); no resource-level permissions. */
export const FLEET_ACTIVITY_ACTIONS = ['autoscaling:DescribeScalingActivities'];

/** The orchestrator scales the fleet up for a run and back to zero after it. */
export const FLEET_SCALE_ACTIONS = ['autoscaling:SetDesiredCapacity'];

/** FleetDown and the teardown backstop check that no other execution still needs the fleet. */
export const EXECUTION_LIST_ACTIONS = ['states:ListExecutions'];

/** The orchestrator's Lambdas read and write a run's objects (multipart uploads for large outputs). */
export const RUN_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'];
export const RUN_LIST_ACTIONS = ['s3:ListBucket'];

/** GenerateBatch looks answers up in the response cache and stores new ones; listing turns a missing key into NoSuchKey instead of AccessDenied. */
export const RESPONSE_CACHE_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject'];
export const RESPONSE_CACHE_LIST_ACTIONS = ['s3:ListBucket'];

/** Plan asks whether the execution holding a run's writer lease still runs. */
export const EXECUTION_DESCRIBE_ACTIONS = ['states:DescribeExecution'];

/** The batch inference step creates and follows Bedrock batch jobs. */
export const BATCH_JOB_ACTIONS = ['bedrock:CreateModelInvocationJob', 'bedrock:GetModelInvocationJob'];

/** ...and hands Bedrock the service role that reads the job's input and writes its output. */
export const PASS_ROLE_ACTIONS = ['iam:PassRole'];

/** What Bedrock's batch service role does with the run's batch files in the outputs bucket. */
export const BATCH_SERVICE_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject'];
export const BATCH_SERVICE_LIST_ACTIONS = ['s3:ListBucket'];

/** Plan reads the profile file a run names. */
export const PROFILE_READ_ACTIONS = ['s3:GetObject'];

/** The Distributed Map reads the manifest and writes its Map Run results (multipart). */
export const MAP_RUN_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'];
