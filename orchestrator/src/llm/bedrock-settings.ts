/**
 * Bedrock settings the CLI needs before (or without) talking to Bedrock. Kept apart from the backend so a
 * run that never calls Bedrock does not load the AWS SDK (tens of MB of heap the GC then sizes itself by).
 */
export const DEFAULT_BEDROCK_MAX_CONCURRENCY = 32;

/** Bedrock batch inference refuses a job with fewer records than this. */
export const MIN_BATCH_RECORDS = 100;

export function bedrockRegion(region?: string): string {
  return region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/** An AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, us-isob-east-1. */
export function isAwsRegion(region: string): boolean {
  return /^[a-z]{2,5}(?:-[a-z]+)+-\d{1,2}$/u.test(region);
}
