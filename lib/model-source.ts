/**
 * Where a server's weights come from. A model reference is one of:
 * - a Hugging Face id, `org/name` (downloaded on the instance, with the optional HF token secret);
 * - `weights:<prefix>`, a prefix in this deployment's weights bucket (staged with `aws s3 sync`);
 * - `s3://bucket/prefix`, any other bucket the instance role is then granted read access to.
 * The syntax is strict because the reference ends up in shell scripts and systemd units.
 */
export type ModelSource =
  | { readonly kind: 'huggingface'; readonly id: string }
  | { readonly kind: 'weights-bucket'; readonly prefix: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

const HF_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const S3_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._\-/]*$/;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const MODEL_REFERENCE_HELP =
  'use a Hugging Face id (Qwen/Qwen2.5-72B-Instruct), weights:<prefix> for the weights bucket, or s3://bucket/prefix';

/** Parses a model reference, or returns undefined when it matches none of the accepted forms. */
export function parseModelSource(reference: string): ModelSource | undefined {
  if (reference.startsWith('weights:')) {
    const prefix = trimSlashes(reference.slice('weights:'.length));
    return prefix && S3_PREFIX.test(prefix) && !prefix.includes('..') ? { kind: 'weights-bucket', prefix } : undefined;
  }
  if (reference.startsWith('s3://')) {
    const [bucket = '', ...rest] = reference.slice('s3://'.length).split('/');
    const prefix = trimSlashes(rest.join('/'));
    const ok = S3_BUCKET.test(bucket) && prefix && S3_PREFIX.test(prefix) && !prefix.includes('..');
    return ok ? { kind: 's3', bucket, prefix } : undefined;
  }
  return HF_ID.test(reference) ? { kind: 'huggingface', id: reference } : undefined;
}

/** The name clients send as `model`: the Hugging Face id, or the last segment of an S3 prefix. */
export function defaultServedModelName(source: ModelSource): string {
  if (source.kind === 'huggingface') return source.id;
  return source.prefix.split('/').at(-1) ?? source.prefix;
}

/** A directory name for the model cache, unique per reference. */
export function modelCacheDirName(reference: string): string {
  return reference
    .replace(/^s3:\/\//, 's3--')
    .replace(/^weights:/, 'weights--')
    .replace(/[^A-Za-z0-9._-]+/g, '--');
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}
