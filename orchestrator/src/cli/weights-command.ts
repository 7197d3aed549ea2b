/**
 * `raiden weights stage --model ID`: copies a Hugging Face model into the deployment's weights bucket once.
 * A fleet instance serving that model then reads it from S3 through the VPC's gateway endpoint (no charge)
 * instead of downloading it through the NAT gateway on every boot (about 0.045 USD per GB processed, so
 * about 6.5 USD for the 145 GB of a 72B model), and without Hugging Face's rate limits. The boot reads the
 * copy only once the marker written last exists, so an interrupted stage is never half-used; running the
 * command again resumes it.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Upload } from '@aws-sdk/lib-storage';
import { STAGED_WEIGHTS_MARKER, stagedWeightsPrefix, weightsBucketName } from '../contract/deployed-names.ts';
import { s3Uri } from '../contract/s3-uri.ts';
import type { CliIo } from './cli-io.ts';
import { EXIT, UsageError } from './usage-error.ts';

/** Hugging Face's own variable for a mirror or test server, as huggingface_hub reads it. */
const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
const HF_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/u;
const PART_SIZE = 64 * 1024 * 1024;
const FILES_IN_FLIGHT = 4;

export interface WeightsStageFlags {
  readonly model: string;
  readonly revision: string;
  readonly region?: string | undefined;
  readonly stackPrefix: string;
  readonly bucket?: string | undefined;
}

export interface StageTarget {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Hugging Face endpoint and token (HF_ENDPOINT, HF_TOKEN: never a flag, which ps would show). */
  readonly hfEndpoint: string;
  readonly hfToken?: string | undefined;
}

/** What the marker records: the boot needs only its presence, people and reruns read the rest. */
export interface StagedMarker {
  readonly model: string;
  readonly revision: string;
  readonly files: readonly { readonly path: string; readonly size: number }[];
  readonly stagedAt: string;
}

export async function runWeightsStage(flags: WeightsStageFlags, io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (!HF_ID.test(flags.model)) {
    throw new UsageError(
      `--model "${flags.model}" is not a Hugging Face model id: write it as org/name, for example Qwen/Qwen2.5-72B-Instruct`,
    );
  }
  const config = flags.region ? { region: flags.region } : {};
  const s3 = new S3Client(config);
  let bucket = flags.bucket;
  if (bucket === undefined) {
    const sts = new STSClient(config);
    const region = await s3.config.region().catch(() => {
      throw new UsageError('no AWS region: pass --region, set AWS_REGION, or configure one for your profile (aws configure)');
    });
    const { Account } = await sts.send(new GetCallerIdentityCommand({})).catch((error: unknown) => {
      throw credentialsError(error) ?? error;
    });
    bucket = weightsBucketName(flags.stackPrefix, Account ?? '', region);
  }
  return stageWeights(
    flags.model,
    flags.revision,
    { s3, bucket, hfEndpoint: env.HF_ENDPOINT ?? DEFAULT_HF_ENDPOINT, hfToken: env.HF_TOKEN },
    io,
  );
}

export async function stageWeights(model: string, revision: string, target: StageTarget, io: CliIo): Promise<number> {
  const { s3, bucket } = target;
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'Forbidden' || name === 'AccessDenied')
      throw new UsageError(
        `weights bucket ${bucket} refused these credentials (${name}): use credentials of the account that deployed the stacks (AWS_PROFILE), allowed s3:ListBucket and s3:PutObject on it`,
      );
    throw (
      credentialsError(error) ??
      new UsageError(
        `weights bucket ${bucket} is not reachable (${name}): deploy the stacks first (npx raiden deploy), ` +
          `or pass --bucket / --stack-prefix / --region of your deployment`,
      )
    );
  }
  const snapshot = await modelSnapshot(model, revision, target);
  const prefix = stagedWeightsPrefix(model);
  const markerKey = `${prefix}/${STAGED_WEIGHTS_MARKER}`;
  const staged = await readMarker(s3, bucket, markerKey);
  if (staged?.revision === snapshot.sha) {
    io.stdout.write(`${model} at ${snapshot.sha} is already staged in ${s3Uri(bucket, `${prefix}/`)}; nothing to do.\n`);
    return EXIT.ok;
  }
  // A boot must not read a mix of two revisions: the copy counts as staged again only after the new marker.
  if (staged !== undefined) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: markerKey }] } }));

  const totalBytes = snapshot.files.reduce((sum, file) => sum + file.size, 0);
  io.stdout.write(
    `Staging ${model} at ${snapshot.sha}: ${snapshot.files.length} files, ${gigabytes(totalBytes)} into ${s3Uri(bucket, `${prefix}/`)}\n`,
  );
  let done = 0;
  const queue = [...snapshot.files];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const key = `${prefix}/${file.path}`;
      const copied = await sizeOf(s3, bucket, key);
      if (copied !== file.size) await copyFile(model, snapshot.sha, file.path, key, target);
      done++;
      io.stdout.write(
        `  ${done}/${snapshot.files.length} ${file.path} (${gigabytes(file.size)})${copied === file.size ? ', already there' : ''}\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: FILES_IN_FLIGHT }, worker));

  const wanted = new Set([...snapshot.files.map((file) => `${prefix}/${file.path}`), markerKey]);
  const stale: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: `${prefix}/` })) {
    stale.push(...(page.Contents ?? []).map((object) => object.Key ?? '').filter((key) => key !== '' && !wanted.has(key)));
  }
  for (let i = 0; i < stale.length; i += 1000) {
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: stale.slice(i, i + 1000).map((Key) => ({ Key })) } }));
  }

  const marker: StagedMarker = { model, revision: snapshot.sha, files: snapshot.files, stagedAt: new Date().toISOString() };
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: markerKey,
      Body: `${JSON.stringify(marker, undefined, 1)}\n`,
      ContentType: 'application/json',
    }),
  );
  io.stdout.write(
    `Staged ${model} (${gigabytes(totalBytes)}). Fleet instances serving it now read it from ${s3Uri(bucket, `${prefix}/`)} through the ` +
      `S3 gateway endpoint instead of downloading it from Hugging Face through the NAT gateway.\n`,
  );
  return EXIT.ok;
}

interface Snapshot {
  readonly sha: string;
  readonly files: readonly { readonly path: string; readonly size: number }[];
}

/** The model's files at a revision, resolved to its commit, so every file comes from the same one. */
async function modelSnapshot(model: string, revision: string, target: StageTarget): Promise<Snapshot> {
  const url = `${target.hfEndpoint}/api/models/${model}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const response = await fetch(url, { headers: hfHeaders(target) });
  if (response.status === 401 || response.status === 403) {
    throw new UsageError(
      `Hugging Face refused ${model} (HTTP ${response.status}): it is gated or private; set HF_TOKEN to a token whose account has accepted its terms`,
    );
  }
  if (response.status === 404)
    throw new UsageError(`Hugging Face has no model ${model} at revision ${revision}: check --model and --revision`);
  if (!response.ok) throw new Error(`Hugging Face answered HTTP ${response.status} for ${url}: try again later`);
  const body = (await response.json()) as { sha?: string; siblings?: { rfilename?: string; size?: number }[] };
  const files = (body.siblings ?? [])
    .filter((sibling) => sibling.rfilename !== undefined)
    .map((sibling) => ({ path: sibling.rfilename as string, size: sibling.size ?? 0 }));
  if (body.sha === undefined || files.length === 0) throw new Error(`Hugging Face listed no files for ${model} at ${revision} (${url})`);
  return { sha: body.sha, files };
}

async function copyFile(model: string, sha: string, path: string, key: string, target: StageTarget): Promise<void> {
  const url = `${target.hfEndpoint}/${model}/resolve/${sha}/${path.split('/').map(encodeURIComponent).join('/')}`;
  const response = await fetch(url, { headers: hfHeaders(target) });
  if (!response.ok || response.body === null)
    throw new Error(`downloading ${url} failed with HTTP ${response.status}: run the command again to resume`);
  await new Upload({
    client: target.s3,
    params: { Bucket: target.bucket, Key: key, Body: Readable.fromWeb(response.body) },
    partSize: PART_SIZE,
    queueSize: 4,
  }).done();
}

/**
 * Errors of missing, expired or wrong credentials, as the SDK's provider chain and the services name them
 * (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html): the user fixes these, so they are
 * a message, not a stack trace, and never taken for a bucket that is not deployed.
 */
const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'TokenRefreshRequired',
]);

function credentialsError(error: unknown): UsageError | undefined {
  const name = (error as { name?: unknown } | undefined)?.name;
  if (typeof name !== 'string' || !CREDENTIAL_ERRORS.has(name)) return undefined;
  return new UsageError(
    `no usable AWS credentials (${name}): run aws configure or aws sso login, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), then run the command again`,
  );
}

function hfHeaders(target: StageTarget): Record<string, string> {
  return target.hfToken ? { authorization: `Bearer ${target.hfToken}` } : {};
}

async function sizeOf(s3: S3Client, bucket: string, key: string): Promise<number | undefined> {
  try {
    return (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  } catch (error) {
    if ((error as { name?: string }).name === 'NotFound') return undefined;
    throw error;
  }
}

async function readMarker(s3: S3Client, bucket: string, key: string): Promise<StagedMarker | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse((await object.Body?.transformToString()) ?? '{}') as StagedMarker;
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

function gigabytes(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}
