/**
 * A rewrite of a run under an S3 prefix: the new version is written under `<run>/.reverify/` (per-record
 * parts in partition `reverify`, then consolidated into samples.jsonl and rejects.jsonl like Finalize
 * does), then copied over the run's objects, and the run's parts the new version does not hold are
 * deleted. S3 has no rename: before the first copy, `.reverify/commit.json` lists every object to copy, so
 * a swap cut short is finished by the next open, and staging without it (a crash before the swap) is
 * dropped. The journal also records the run's sample and reject parts as they were: a part added since (a
 * writer that appended without finishing the swap) refuses the swap instead of being deleted by it.
 */
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PARTS } from '../contract/run-layout.ts';
import { RunFileError } from '../core/ports/run-store.ts';
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
    await rollForward(this.options, await writeS3CommitJournal(this.options));
  }

  async abandon(): Promise<void> {
    await deleteKeys(
      this.options.client,
      this.options.bucket,
      await listKeys(this.options.client, this.options.bucket, stagingOf(this.options)),
    );
  }
}

/** commit.json: the staged keys (relative to staging), and the run's parts when it was written. */
export interface S3CommitJournal {
  readonly keys: readonly string[];
  /** The run's sample and reject parts: the ones the new version lacks are deleted, and only those. */
  readonly parts?: readonly string[];
}

/** Writes the journal of the staged rewrite: the first step of a commit, after which the swap is decided. */
export async function writeS3CommitJournal(options: S3RunRewriteOptions): Promise<S3CommitJournal> {
  const { client, bucket } = options;
  const staging = stagingOf(options);
  const keys = (await listKeys(client, bucket, staging)).map((key) => key.slice(staging.length)).filter((key) => key !== JOURNAL);
  const journal: S3CommitJournal = { keys, parts: await runParts(options) };
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: `${staging}${JOURNAL}`, Body: JSON.stringify(journal), ContentType: 'application/json' }),
  );
  return journal;
}

/** Whether the run holds the journal of a swap that did not finish: its objects are part old, part new until recoverS3Rewrite ends it. */
export async function s3RewritePending(options: S3RunRewriteOptions): Promise<boolean> {
  try {
    await options.client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: `${stagingOf(options)}${JOURNAL}` }));
    return true;
  } catch (error) {
    if (['NotFound', 'NoSuchKey'].includes((error as { name?: string }).name ?? '')) return false;
    throw error;
  }
}

/**
 * Completes a swap its journal records, or drops staging a crash left before the swap began. Refuses (with
 * RunFileError) a swap whose run objects changed since its journal was written.
 */
export async function recoverS3Rewrite(options: S3RunRewriteOptions): Promise<'none' | 'finished' | 'dropped'> {
  const { client, bucket } = options;
  const staging = stagingOf(options);
  let journal: S3CommitJournal | undefined;
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${staging}${JOURNAL}` }));
    journal = JSON.parse((await object.Body?.transformToString('utf8')) ?? '') as S3CommitJournal;
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchKey') throw error;
  }
  if (journal !== undefined) {
    await refuseChangedRun(options, journal);
    await rollForward(options, journal);
    return 'finished';
  }
  const left = await listKeys(client, bucket, staging);
  if (left.length === 0) return 'none';
  await deleteKeys(client, bucket, left);
  return 'dropped';
}

/** No sample or reject part may have been added since the journal was written: the swap would delete it. */
async function refuseChangedRun(options: S3RunRewriteOptions, journal: S3CommitJournal): Promise<void> {
  const { bucket, prefix } = options;
  const staging = stagingOf(options);
  const refuse = (what: string) =>
    new RunFileError(
      `${what} after an interrupted raiden reverify staged its replacement in s3://${bucket}/${staging}: the staged objects are not copied, so nothing written since is lost; delete s3://${bucket}/${staging} and run raiden reverify again`,
    );
  if (journal.parts === undefined)
    throw refuse(`s3://${bucket}/${prefix} may have changed (the journal, of an older raiden, does not list its parts)`);
  const known = new Set([...journal.parts, ...journal.keys.map((key) => `${prefix}${key}`)]);
  const added = (await runParts(options)).find((key) => !known.has(key));
  if (added !== undefined) throw refuse(`s3://${bucket}/${added} was added`);
}

/** The keys of the run's sample and reject parts. */
async function runParts(options: S3RunRewriteOptions): Promise<string[]> {
  const { client, bucket, prefix } = options;
  return [
    ...(await listKeys(client, bucket, `${prefix}${PARTS.samples}`)),
    ...(await listKeys(client, bucket, `${prefix}${PARTS.rejects}`)),
  ];
}

async function rollForward(options: S3RunRewriteOptions, journal: S3CommitJournal): Promise<void> {
  const { client, bucket, prefix } = options;
  const staging = stagingOf(options);
  const { keys } = journal;
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
