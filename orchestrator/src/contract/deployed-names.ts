/**
 * Names the CDK app, the Lambda handlers and the CLI share: the Lambdas' environment variables, the tags
 * that say where runs go, the run metrics and their namespace. No imports, so the CDK app can use it
 * without loading the handlers' dependencies.
 */
export const ENV = {
  outputsBucket: 'RAIDEN_OUTPUTS_BUCKET',
  tempPrefix: 'RAIDEN_TEMP_PREFIX',
  autoScalingGroup: 'RAIDEN_ASG_NAME',
  /** JSON list of the layout's servers: [{name, port, model, dp}]. */
  servers: 'RAIDEN_SERVERS',
  apiKeySecret: 'RAIDEN_API_KEY_SECRET_ARN',
  stateMachineArn: 'RAIDEN_STATE_MACHINE_ARN',
  readinessTimeoutMinutes: 'RAIDEN_READINESS_TIMEOUT_MINUTES',
  bedrockModel: 'RAIDEN_BEDROCK_MODEL',
  bedrockMaxConcurrency: 'RAIDEN_BEDROCK_MAX_CONCURRENCY',
  /** A Bedrock Runtime endpoint (a VPC endpoint, or a local test server) instead of the regional one. */
  bedrockEndpoint: 'RAIDEN_BEDROCK_ENDPOINT',
  sglangRequestsPerReplica: 'RAIDEN_SGLANG_REQUESTS_PER_REPLICA',
  metricsNamespace: 'RAIDEN_METRICS_NAMESPACE',
  /** An S3-compatible endpoint (path-style), instead of AWS S3: local runs and tests. */
  s3Endpoint: 'RAIDEN_S3_ENDPOINT',
  /** The service role Bedrock assumes to read batch inference input and write its output in the outputs bucket. */
  bedrockBatchRoleArn: 'RAIDEN_BEDROCK_BATCH_ROLE_ARN',
} as const;

/** One SGLang server of the fleet's layout, as the stack writes it into ENV.servers and the handlers read it. */
export interface FleetServer {
  readonly name: string;
  readonly port: number;
  readonly model: string;
  readonly dp: number;
}

/** The run metrics the handlers emit (EMF) and the dashboard graphs: counts, and BedrockCostUsd in US dollars. */
export const RUN_METRIC_NAMES = [
  'SamplesAccepted',
  'SamplesRejected',
  'EmptySlots',
  'Requests',
  'TransportFailures',
  'BackendErrors',
  'InputTokens',
  'OutputTokens',
  'BedrockCostUsd',
] as const;
export type RunMetric = (typeof RUN_METRIC_NAMES)[number];

/** CloudWatch namespace of the run metrics, unless the stack sets another in ENV.metricsNamespace. */
export const DEFAULT_METRICS_NAMESPACE = 'Raiden';

/**
 * The GPU servers' own metrics: the CloudWatch agent on each instance scrapes SGLang's /metrics into this
 * namespace, with the dimensions InstanceId and Server (the layout's server name); the dashboard graphs them.
 */
export const SGLANG_METRICS_NAMESPACE = 'Raiden/SGLang';
export const SGLANG_METRIC_DIMENSIONS = ['InstanceId', 'Server'] as const;
/** SGLang's gauges (python/sglang/srt/metrics/collector.py) that the agent ships, with their CloudWatch units. */
export const SGLANG_SERVER_METRICS = {
  'sglang:num_running_reqs': 'Count',
  'sglang:num_queue_reqs': 'Count',
  'sglang:gen_throughput': 'Count/Second',
  'sglang:cache_hit_rate': 'None',
} as const;
export type SglangServerMetric = keyof typeof SGLANG_SERVER_METRICS;

/** Tags on the state machine that tell `raiden start` where to upload profiles and where runs land. */
export const INPUTS_BUCKET_TAG = 'raiden:inputs-bucket';
export const OUTPUTS_BUCKET_TAG = 'raiden:outputs-bucket';

/** The tag every stack of this app carries; `raiden teardown` finds the fleets by it. */
export const PROJECT_TAG = { key: 'project', value: 'raiden-datagen' } as const;

/** The state machine's fixed name, so `raiden start` and `raiden status` find it without stack outputs. */
export function stateMachineName(stackPrefix: string): string {
  return `${stackPrefix.toLowerCase()}-generation`;
}

/** The deployment's weights bucket: the data stack creates it by this name; the fleet and `raiden weights` find it by it. */
export function weightsBucketName(stackPrefix: string, account: string, region: string): string {
  return `${stackPrefix.toLowerCase()}-weights-${account}-${region}`;
}

/**
 * Where `raiden weights stage` copies a Hugging Face model inside the weights bucket. The marker is written
 * last, so a boot reads the copy only once it is complete.
 */
export function stagedWeightsPrefix(modelId: string): string {
  return `huggingface/${modelId}`;
}
export const STAGED_WEIGHTS_MARKER = '.raiden-staged.json';
