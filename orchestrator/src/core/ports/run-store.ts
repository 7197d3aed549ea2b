import type { RejectRecord, Sample } from '../verify/sample.ts';

export type { RejectRecord, Sample };

/**
 * Where a run's files live: a local directory or (in the cloud) an S3 prefix. Accepted samples are
 * written one at a time as they are accepted, so a crash loses nothing already accepted. Reads stream, so
 * a run of any size is finalized in bounded memory.
 */
export interface RunStore {
  /** Human-readable location, e.g. the directory path or s3:// URL. */
  readonly location: string;
  /** Makes the store ready for appends (locally: cuts a tail torn by a crash). Call before the first append. */
  prepareAppends(): Promise<void>;
  /** Every accepted sample written so far, first occurrence of each id only; damaged trailing data is dropped. */
  readSamples(): AsyncIterable<Sample>;
  appendSample(sample: Sample): Promise<void>;
  readRejects(): AsyncIterable<RejectRecord>;
  appendReject(reject: RejectRecord): Promise<void>;
  readJson<T>(name: string): Promise<T | undefined>;
  /**
   * Replaces a whole file atomically (readers see the old or the new content, never a mix). With a
   * condition, writes only if the file does not exist yet or still has the version read, and throws
   * WriteConflictError otherwise: two writers racing for one run find out which one got there first.
   */
  writeJson(name: string, value: unknown, condition?: WriteCondition): Promise<void>;
  /** Streams lines into a file, replacing it atomically; for outputs too large to hold as one string. */
  writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void>;
  /**
   * Adds one record to the run's event log (the time series behind report.html). Locally a line appended
   * to events.jsonl like a sample; S3 has no append, so each writer buffers its events into objects of its
   * own, written when enough have gathered and by flushEvents.
   */
  appendEvent(event: RunEventRecord): Promise<void>;
  /** Writes the events still buffered (S3); call before the writer ends. */
  flushEvents(): Promise<void>;
  /** The events of every writer, each writer's in the order written; damaged records are dropped. */
  readEvents(): AsyncIterable<RunEventRecord>;
}

/** One line of the event log; core/report/run-events.ts gives its fields meaning. */
export type RunEventRecord = Readonly<Record<string, unknown>>;

/** When a conditional write may go ahead. */
export type WriteCondition =
  /** Only if the file does not exist (S3: If-None-Match: *). */
  | { readonly ifAbsent: true }
  /** Only if the file still has this version, from readJsonVersion (S3: If-Match with the ETag). */
  | { readonly ifVersion: string };

/** A conditional write whose condition did not hold: another writer changed the file first. */
export class WriteConflictError extends Error {
  override readonly name = 'WriteConflictError';
}

/**
 * A run file that cannot take or give its records as they should be (a disk that filled mid-append, a line
 * that is not a record); the message names the file and what to do. The run keeps every whole record.
 */
export class RunFileError extends Error {
  override readonly name = 'RunFileError';
}

/** A JSON document with the version a conditional write or delete names. */
export interface Versioned<T> {
  readonly value: T;
  readonly version: string;
}

/**
 * Compare-and-swap on one small JSON document: what a run's writer lease needs beyond writeJson's
 * conditions. The local directory and S3 stores implement it; a store that never has two writers need not.
 */
export interface LeaseStore extends Pick<RunStore, 'location' | 'writeJson'> {
  readJsonVersion<T>(name: string): Promise<Versioned<T> | undefined>;
  /** Deletes the file only if it still has `version`; throws WriteConflictError otherwise. */
  deleteJson(name: string, condition: { readonly ifVersion: string }): Promise<void>;
}
