/** The one parser of `s3://bucket/key` locations, for profiles, runs and Bedrock batch prefixes. */
export interface S3Location {
  readonly bucket: string;
  /** The key or key prefix after the bucket, without a leading slash; may be empty. */
  readonly key: string;
}

/** S3 bucket naming rules: 3-63 characters, lower-case letters, digits, dots and hyphens. */
const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/u;

/** Splits an s3:// URI; undefined when it is not one (a local path, a bucket name with capitals). */
export function parseS3Uri(uri: string): S3Location | undefined {
  const match = S3_URI.exec(uri);
  if (!match) return undefined;
  return { bucket: match[1] as string, key: match[2] ?? '' };
}

/** Like parseS3Uri, but the key must name an object, not just the bucket. */
export function parseS3ObjectUri(uri: string): S3Location | undefined {
  const location = parseS3Uri(uri);
  return location !== undefined && location.key.length > 0 && !location.key.endsWith('/') ? location : undefined;
}

export function s3Uri(bucket: string, key = ''): string {
  return `s3://${bucket}/${key}`;
}
