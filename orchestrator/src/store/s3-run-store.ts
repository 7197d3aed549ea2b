import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PARTS, RUN_FILES } from '../contract/run-layout.ts';
import type { RejectRecord, RunEventRecord, Sample } from '../core/ports/run-store.ts';
import { firstById, parseJsonLineStream } from './jsonl.ts';
import { WriteConflictError, type LeaseStore, type RunStore, type Versioned, type WriteCondition } from '../core/ports/run-store.ts';
import { backoffDelayMs, sleep, type RetryPolicy } from '../llm/retry-policy.ts';

export interface S3RunStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix of the run, ending in `/`, e.g. `runs/<run id>/`. */
  readonly prefix: string;
  /**
   * Where this writer's samples and rejects go: a batch id in the workflow. Reads with a partition see
   * only that partition (a batch resuming itself); reads without one see the whole run (Finalize).
   * @default 'main'
   */
  readonly partition?: string;
  /** Objects fetched at once while streaming samples or rejects. */
  readonly readConcurrency?: number;
  /**
   * Read samples and rejects from the per-record objects (`parts`, while the run goes on) or from the
   * consolidated samples.jsonl and rejects.jsonl that `consolidate` wrote (one streamed GET each).
   * @default 'parts'
   */
  readonly readFrom?: 'parts' | 'jsonl';
}

/**
 * S3 wants parts of at least 5 MiB (but the last); larger parts mean fewer requests for big files. A body
 * below one part goes up as a single PutObject.
 */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts in flight at once: an upload holds about this many parts in memory, whatever the object's size. */
const UPLOAD_QUEUE = 2;
/**
 * An event object is written once this many events or this much time has gathered: few PUTs next to the
 * one per sample, and a writer killed without flushEvents loses at most that much of the time series.
 */
const EVENTS_PER_OBJECT = 500;
const EVENT_FLUSH_MS = 60_000;

/**
 * A run under an S3 prefix. S3 has no append, so every accepted sample is its own object, keyed by its
 * id: writing it again (a retried batch) replaces the same object instead of adding a duplicate, and a
 * batch that resumes lists its partition to learn which slots are done. Finalize streams the objects back
 * in key order into the run's JSONL and JSON files.
 */
export class S3RunStore implements RunStore, LeaseStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partition: string | undefined;
  private readonly readConcurrency: number;
  private readonly readFrom: 'parts' | 'jsonl';
  /** This writer's own event objects: named by when it started, so a listing returns writers in start order. */
  private readonly eventWriter = `${new Date().toISOString().replace(/[:.]/gu, '-')}-${randomUUID().slice(0, 8)}`;
  private eventLines: string[] = [];
  private eventObjects = 0;
  private eventsSince = 0;

  constructor(options: S3RunStoreOptions) {
    if (!options.prefix.endsWith('/')) throw new Error(`S3RunStore prefix ${JSON.stringify(options.prefix)} must end with "/"`);
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.partition = options.partition;
    this.readConcurrency = options.readConcurrency ?? 32;
    this.readFrom = options.readFrom ?? 'parts';
    this.location = `s3://${options.bucket}/${options.prefix}`;
  }

  async prepareAppends(): Promise<void> {}

  readSamples(): AsyncIterable<Sample> {
    if (this.readFrom === 'jsonl') return firstById(this.readJsonLines<Sample>(`${this.prefix}${RUN_FILES.samples}`));
    return firstById(this.readObjects<Sample>(this.partitionPrefix('samples')));
  }

  async appendSample(sample: Sample): Promise<void> {
    await this.put(`${this.partitionPrefix('samples')}${objectKeyOf(sample.id)}.json`, JSON.stringify(sample));
  }

  readRejects(): AsyncIterable<RejectRecord> {
    if (this.readFrom === 'jsonl') return this.readJsonLines<RejectRecord>(`${this.prefix}${RUN_FILES.rejects}`);
    return this.readObjects<RejectRecord>(this.partitionPrefix('rejects'));
  }

  /**
   * Writes samples.jsonl and rejects.jsonl (the run's contract, as a local run directory has them) from
   * the per-record objects, and returns a store that reads them back with one streamed GET each.
   */
  async consolidate(): Promise<S3RunStore> {
    const lines = async function* (records: AsyncIterable<unknown>) {
      for await (const record of records) yield JSON.stringify(record);
    };
    await this.writeLines(RUN_FILES.samples, lines(this.readSamples()));
    await this.writeLines(RUN_FILES.rejects, lines(this.readRejects()));
    return new S3RunStore({
      client: this.client,
      bucket: this.bucket,
      prefix: this.prefix,
      readConcurrency: this.readConcurrency,
      readFrom: 'jsonl',
    });
  }

  async appendReject(reject: RejectRecord): Promise<void> {
    // A slot may be rejected again at the same attempt by a retried batch: every record gets its own key.
    const key = `${this.partitionPrefix('rejects')}${objectKeyOf(reject.slot_id)}/${reject.attempt}-${Date.now()}-${randomUUID().slice(0, 8)}.json`;
    await this.put(key, JSON.stringify(reject));
  }

  async appendEvent(event: RunEventRecord): Promise<void> {
    if (this.eventLines.length === 0) this.eventsSince = Date.now();
    this.eventLines.push(JSON.stringify(event));
    if (this.eventLines.length >= EVENTS_PER_OBJECT || Date.now() - this.eventsSince >= EVENT_FLUSH_MS) await this.flushEvents();
  }

  async flushEvents(): Promise<void> {
    if (this.eventLines.length === 0) return;
    const lines = this.eventLines;
    this.eventLines = [];
    const key = `${this.eventsPrefix()}${this.eventWriter}/${String(this.eventObjects++).padStart(6, '0')}.jsonl`;
    await this.put(key, `${lines.join('\n')}\n`);
  }

  async *readEvents(): AsyncIterable<RunEventRecord> {
    for await (const key of this.listKeys(this.eventsPrefix())) yield* this.readJsonLines<RunEventRecord>(key);
  }

  async readJson<T>(name: string): Promise<T | undefined> {
    return this.getJson<T>(`${this.prefix}${name}`);
  }

  /** One PUT: S3 replaces an object atomically, so readers see the old or the new document. A condition becomes If-None-Match or If-Match. */
  async writeJson(name: string, value: unknown, condition?: WriteCondition): Promise<void> {
    await this.put(`${this.prefix}${name}`, `${JSON.stringify(value, null, 2)}\n`, condition);
  }

  /** The document and its ETag, which a conditional write or delete names. */
  async readJsonVersion<T>(name: string): Promise<Versioned<T> | undefined> {
    const key = `${this.prefix}${name}`;
    let object;
    try {
      object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
    const text = (await object.Body?.transformToString('utf8')) ?? '';
    try {
      return { value: JSON.parse(text) as T, version: object.ETag ?? '' };
    } catch {
      throw new Error(`s3://${this.bucket}/${key} is not JSON: if no execution uses this run, delete the object and try again`);
    }
  }

  async deleteJson(name: string, condition: { readonly ifVersion: string }): Promise<void> {
    const key = `${this.prefix}${name}`;
    try {
      await retryInFlightConflict(() =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: condition.ifVersion })),
      );
    } catch (error) {
      if (isConditionFailure(error)) throw new WriteConflictError(`s3://${this.bucket}/${key} changed since it was read`);
      throw error;
    }
  }

  /** Streams lines into one object: a single PUT when small, a multipart upload otherwise (any size, flat memory). */
  async writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
    const withNewlines = async function* () {
      for await (const line of lines) yield `${line}\n`;
    };
    await this.upload(name, withNewlines());
  }

  /**
   * Writes one file of the run (an export's, under a sub-prefix such as `exports/verl/`): a body held whole
   * in one PUT, chunks made as they are read in a multipart upload, so a data file of any size is never held.
   */
  async writeFile(name: string, body: string | Uint8Array | AsyncIterable<string | Uint8Array>): Promise<void> {
    if (typeof body === 'string' || body instanceof Uint8Array) await this.put(`${this.prefix}${name}`, body);
    else await this.upload(name, body);
  }

  private async upload(name: string, chunks: AsyncIterable<string | Uint8Array>): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: `${this.prefix}${name}`, Body: Readable.from(chunks), ContentType: contentType(name) },
      partSize: PART_BYTES,
      queueSize: UPLOAD_QUEUE,
      // An abandoned upload keeps billing for its parts, so a failed one is aborted; the buckets' lifecycle rule is only the backstop.
      leavePartsOnError: false,
    });
    await upload.done();
  }

  /** Every JSON object under `<prefix><subPrefix>`, in key order (e.g. the per-batch results). */
  listJson<T>(subPrefix: string): AsyncIterable<T> {
    return this.readObjects<T>(`${this.prefix}${subPrefix}`);
  }

  /** Objects under `<prefix><subPrefix>`, counted without reading them. */
  async countObjects(subPrefix: string): Promise<number> {
    let count = 0;
    for await (const _key of this.listKeys(`${this.prefix}${subPrefix}`)) count++;
    return count;
  }

  private eventsPrefix(): string {
    return `${this.prefix}${PARTS.events}${this.partition === undefined ? '' : `${this.partition}/`}`;
  }

  private partitionPrefix(kind: 'samples' | 'rejects'): string {
    return `${this.prefix}${PARTS[kind]}${this.partition === undefined ? '' : `${this.partition}/`}`;
  }

  private async put(key: string, body: string | Uint8Array, condition?: WriteCondition): Promise<void> {
    const precondition = condition === undefined ? {} : 'ifAbsent' in condition ? { IfNoneMatch: '*' } : { IfMatch: condition.ifVersion };
    try {
      const send = () =>
        this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType(key), ...precondition }),
        );
      await (condition === undefined ? send() : retryInFlightConflict(send));
    } catch (error) {
      if (condition !== undefined && isConditionFailure(error))
        throw new WriteConflictError(`s3://${this.bucket}/${key} was changed by another writer first`);
      throw error;
    }
  }

  private async getJson<T>(key: string): Promise<T | undefined> {
    let text: string;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      text = (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      // Never written by this store (a PUT is all or nothing): skip it like a corrupt JSONL line.
      return undefined;
    }
  }

  private async *listKeys(prefix: string): AsyncGenerator<string> {
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) yield object.Key;
    }
  }

  private async *readJsonLines<T>(key: string): AsyncGenerator<T> {
    const body = await this.body(key);
    // Same rule as a local run directory: a line that is not a record is an error naming the object and line.
    if (body !== undefined) yield* parseJsonLineStream<T>(body, `s3://${this.bucket}/${key}`);
  }

  /** The lines of one of the run's files, streamed with one GET; undefined when the run has no such file. */
  async readLines(name: string): Promise<AsyncIterable<string> | undefined> {
    const body = await this.body(`${this.prefix}${name}`);
    return body === undefined ? undefined : createInterface({ input: body, crlfDelay: Infinity });
  }

  private async body(key: string): Promise<Readable | undefined> {
    try {
      return (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body as Readable;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  /** Fetches up to readConcurrency objects ahead while yielding them in key order. */
  private async *readObjects<T>(prefix: string): AsyncGenerator<T> {
    const ahead: Promise<T | undefined>[] = [];
    for await (const key of this.listKeys(prefix)) {
      const fetch = this.getJson<T>(key);
      // Awaited in order below; marking it handled keeps an early failure from crashing the process first.
      fetch.catch(() => undefined);
      ahead.push(fetch);
      if (ahead.length >= this.readConcurrency) {
        const value = await ahead.shift();
        if (value !== undefined) yield value;
      }
    }
    for (const fetch of ahead) {
      const value = await fetch;
      if (value !== undefined) yield value;
    }
  }
}

/**
 * 409 ConditionalRequestConflict: another conditional write to the same key was in flight, and the request
 * is to be retried, unlike a 412, which says the condition is false:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 * A few tries with jittered exponential backoff; a conflict that outlasts them is reported like a 412.
 */
export const IN_FLIGHT_CONFLICT_RETRY = { attempts: 5, baseMs: 50 } as const;
const CONFLICT_BACKOFF: RetryPolicy = {
  maxRetries: IN_FLIGHT_CONFLICT_RETRY.attempts - 1,
  baseDelayMs: IN_FLIGHT_CONFLICT_RETRY.baseMs,
  maxDelayMs: IN_FLIGHT_CONFLICT_RETRY.baseMs * 2 ** IN_FLIGHT_CONFLICT_RETRY.attempts,
};

async function retryInFlightConflict<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
      const inFlight = name === 'ConditionalRequestConflict' || $metadata?.httpStatusCode === 409;
      if (!inFlight || attempt >= IN_FLIGHT_CONFLICT_RETRY.attempts) throw error;
      // Full jitter: two writers that collided do not retry in step.
      await sleep(backoffDelayMs(attempt, CONFLICT_BACKOFF));
    }
  }
}

/**
 * S3's answers to a failed condition: 412 PreconditionFailed, 409 ConditionalRequestConflict still there after
 * the retries, and NoSuchKey when If-Match names an object deleted since it was read.
 */
function isConditionFailure(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    ['PreconditionFailed', 'ConditionalRequestConflict', 'NoSuchKey'].includes(name ?? '') ||
    [412, 409].includes($metadata?.httpStatusCode ?? 0)
  );
}

/** Sample and slot ids (`<profile>/<kind>/<index>`) as key segments, each URI-encoded. */
export function objectKeyOf(id: string): string {
  return id.split('/').map(encodeURIComponent).join('/');
}

function contentType(name: string): string {
  if (name.endsWith('.html')) return 'text/html; charset=utf-8';
  if (name.endsWith('.parquet')) return 'application/octet-stream';
  return name.endsWith('.jsonl') ? 'application/x-ndjson' : name.endsWith('.json') ? 'application/json' : 'text/plain';
}
