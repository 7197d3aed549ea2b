/**
 * The response cache under a prefix of an S3 bucket: one object per answer, `<prefix><2 hex>/<64 hex>.json`.
 * A PUT replaces an object atomically, so a reader sees a whole entry or none; a lifecycle rule on the
 * prefix bounds what it keeps (S3 cannot tell which objects are read, so it expires by age instead of LRU).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { RESPONSE_CACHE_KEY, type CachedResponse, type ResponseCache } from '../core/ports/response-cache.ts';

export interface S3ResponseCacheOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix ending in `/`, e.g. `cache/responses/`. */
  readonly prefix: string;
}

export class S3ResponseCache implements ResponseCache {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3ResponseCacheOptions) {
    if (!options.prefix.endsWith('/')) throw new Error(`S3ResponseCache prefix ${JSON.stringify(options.prefix)} must end with "/"`);
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.location = `s3://${options.bucket}/${options.prefix}`;
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    let text: string;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      text = (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
    try {
      const entry = JSON.parse(text) as Partial<CachedResponse> & { key?: string };
      if (entry.key !== key || typeof entry.text !== 'string' || typeof entry.model !== 'string' || entry.usage === undefined)
        return undefined;
      return {
        text: entry.text,
        model: entry.model,
        usage: entry.usage,
        ...(entry.backend !== undefined ? { backend: entry.backend } : {}),
      };
    } catch {
      // Not written by this cache (a PUT is all or nothing): a miss, and the next answer replaces it.
      return undefined;
    }
  }

  async put(key: string, response: CachedResponse): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: JSON.stringify({ key, ...response, stored_at: new Date().toISOString() }),
        ContentType: 'application/json',
      }),
    );
  }

  private objectKey(key: string): string {
    if (!RESPONSE_CACHE_KEY.test(key)) throw new Error(`not a response cache key: ${JSON.stringify(key)}`);
    return `${this.prefix}${key.slice(0, 2)}/${key.slice(2)}.json`;
  }
}
