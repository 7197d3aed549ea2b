/**
 * Where the workflow keeps its response cache: a prefix of the outputs bucket, shared by every run of the
 * deployment, whose objects a lifecycle rule expires. The CDK app, GenerateBatch and `raiden reverify`
 * (for a run in S3) agree on it here.
 */
export const RESPONSE_CACHE_PREFIX = 'cache/responses/';

/** The environment variable that gives GenerateBatch the prefix; without it the Lambda uses no cache. */
export const RESPONSE_CACHE_ENV = 'RAIDEN_RESPONSE_CACHE_PREFIX';

/** Days after which a cached answer expires in S3 (there is no read-time LRU there: S3 cannot tell reads). */
export const RESPONSE_CACHE_DAYS = 30;
