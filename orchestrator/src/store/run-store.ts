import type { RejectRecord, Sample } from '../core/sample.ts';

/**
 * Where a run's files live: a local directory or (in the cloud) an S3 prefix. Accepted samples are
 * written one at a time as they are accepted, so a crash loses nothing already accepted.
 */
export interface RunStore {
  /** Human-readable location, e.g. the directory path or s3:// URL. */
  readonly location: string;
  /** Every accepted sample written so far, first occurrence of each id only; damaged trailing data is dropped. */
  loadSamples(): Promise<Sample[]>;
  appendSample(sample: Sample): Promise<void>;
  loadRejects(): Promise<RejectRecord[]>;
  appendReject(reject: RejectRecord): Promise<void>;
  readJson<T>(name: string): Promise<T | undefined>;
  /** Replaces a whole file atomically (readers see the old or the new content, never a mix). */
  writeJson(name: string, value: unknown): Promise<void>;
  /** Streams lines into a file, replacing it; for outputs too large to hold as one string. */
  writeLines(name: string, lines: Iterable<string>): Promise<void>;
}
