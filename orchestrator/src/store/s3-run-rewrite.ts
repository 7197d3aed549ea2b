/**
 * A rewrite of a run under an S3 prefix: the new version is written under `<run>/.reverify/` (per-record
 * parts in partition `reverify`, then consolidated into samples.jsonl and rejects.jsonl like Finalize
 * does), then copied over the run's objects, and the run's parts the new version does not hold are
 * deleted. S3 has no rename: before the first copy, `.reverify/commit.json` lists every object to copy, so
 * a swap cut short is finished by the next open (a copy of an object already moved finds nothing to copy),
 * and staging without it (a crash before the swap) is dropped.
 */
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  GetObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PARTS } from '../contract/run-layout.ts';
import type { RunRewrite } from '../core/ports/run-rewrite.ts';
import { S3RunStore } from './s3-run-store.ts';

const STAGING = '.reverify/';
const JOURNAL = 'commit.json';

export interface S3RunRewriteOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** The run's prefix, ending in `/`: `runs/<run id>/`. */
  readonly prefix: string;
}

export class S3RunRewrite implements RunRewrite {
  readonly staged: S3RunStore;

  private constructor(private readonly options: S3RunRewriteOptions) {
    this.staged = new S3RunStore({ client: options.client, bucket: options.bucket, prefix: stagingOf(options), partition: 'reverify' });
  }

  /** Finishes or drops an earlier rewrite of the run, then stages a new one. */
  static async open(options: S3RunRewriteOptions): Promise<S3RunRewrite> {
    await recoverS3Rewrite(options);
    return new S3RunRewrite(options);
  }

  async commit(): Promise<void> {
    await this.staged.consolidate();
    const { client, bucket } = this.options;
    const staging = stagingOf(this.options);
    const keys = (await listKeys(client, bucket, staging)).map((key) => key.slice(staging.length)).filter((key) => key !== JOURNAL);
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `${staging}${JOURNAL}`,
        Body: JSON.stringify({ keys }),
        ContentType: 'application/json',
      }),
    );
    await rollForward(this.options, keys);
  }

  async abandon(): Promise<void> {
    await deleteKeys(
      this.options.client,
      this.options.bucket,
      await listKeys(this.options.client, this.options.bucket, stagingOf(this.options)),
    );
  }
}

/** Completes a swap its journal records, or drops staging a crash left before the swap began. */
export async function recoverS3Rewrite(options: S3RunRewriteOptions): Promise<'none' | 'finished' | 'dropped'> {
  const { client, bucket } = options;
  const staging = stagingOf(options);
  let journal: { keys: string[] } | undefined;
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${staging}${JOURNAL}` }));
    journal = JSON.parse((await object.Body?.transformToString('utf8')) ?? '') as { keys: string[] };
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchKey') throw error;
  }
  if (journal !== undefined) {
    await rollForward(options, journal.keys);
    return 'finished';
  }
  const left = await listKeys(client, bucket, staging);
  if (left.length === 0) return 'none';
  await deleteKeys(client, bucket, left);
  return 'dropped';
}

async function rollForward(options: S3RunRewriteOptions, keys: readonly string[]): Promise<void> {
  const { client, bucket, prefix } = options;
  const staging = stagingOf(options);
  for (const key of keys) {
    try {
      await client.send(
        new CopyObjectCommand({ Bucket: bucket, Key: `${prefix}${key}`, CopySource: copySource(bucket, `${staging}${key}`) }),
      );
    } catch (error) {
      // Moved by the swap this one finishes.
      if (!['NoSuchKey', 'NotFound'].includes((error as { name?: string }).name ?? '')) throw error;
    }
  }
  const wanted = new Set(keys.map((key) => `${prefix}${key}`));
  for (const parts of [PARTS.samples, PARTS.rejects]) {
    await deleteKeys(
      client,
      bucket,
      (await listKeys(client, bucket, `${prefix}${parts}`)).filter((key) => !wanted.has(key)),
    );
  }
  // The journal last: until it is gone, the next open finishes this swap.
  await deleteKeys(
    client,
    bucket,
    keys.map((key) => `${staging}${key}`),
  );
  await deleteKeys(client, bucket, [`${staging}${JOURNAL}`]);
}

function stagingOf(options: S3RunRewriteOptions): string {
  return `${options.prefix}${STAGING}`;
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
  }
  return keys;
}

async function deleteKeys(client: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  // DeleteObjects takes at most 1,000 keys.
  for (let start = 0; start < keys.length; start += 1000) {
    const result = await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(start, start + 1000).map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = result.Errors ?? [];
    if (failed.length > 0)
      throw new Error(`could not delete ${failed.length} objects under s3://${bucket}/ (first: ${failed[0]?.Key}: ${failed[0]?.Message})`);
  }
}
