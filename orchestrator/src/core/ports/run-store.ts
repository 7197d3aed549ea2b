import type { RejectRecord, Sample } from '../sample.ts';

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
  /** Replaces a whole file atomically (readers see the old or the new content, never a mix). */
  writeJson(name: string, value: unknown): Promise<void>;
  /** Streams lines into a file, replacing it atomically; for outputs too large to hold as one string. */
  writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void>;
}
