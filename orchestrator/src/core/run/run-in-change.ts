/**
 * Whether a finished run can be read as one version of itself, the same question for a run directory and a
 * run's S3 prefix: not while a writer holds it (raiden generate, raiden reverify or a workflow execution
 * rewrites train.json and the other files at its end), nor while the swap of an interrupted rewrite is half
 * done (some of its files are the new ones, some the old).
 */
import type { LeaseStore } from '../ports/run-store.ts';
import { activeWriter, type RunWriter, type WriterLease } from './run-manifest.ts';

/** What tells a reader whether the run is changing. */
export interface RunChangeProbe {
  readonly location: string;
  /** Where the run's writer lease is. */
  readonly lease: Pick<LeaseStore, 'readJsonVersion'>;
  /** Whether a rewrite of the run recorded its swap (its commit journal) and did not finish it. */
  rewritePending(): Promise<boolean>;
}

export type RunChange = { readonly kind: 'writer'; readonly holder: WriterLease } | { readonly kind: 'swap' };

/** The run is changing: `change` says how, for the front door to say what to do. */
export class RunInChangeError extends Error {
  override readonly name = 'RunInChangeError';
  constructor(
    readonly location: string,
    readonly change: RunChange,
  ) {
    super(
      change.kind === 'writer'
        ? `${location} is being written by ${change.holder.writer} since ${change.holder.claimed_at}`
        : `${location} holds the swap of an interrupted raiden reverify`,
    );
  }
}

/** Throws RunInChangeError when a live writer holds the run or a rewrite's swap is pending; `judge` tells a live writer from a gone one. */
export async function refuseRunInChange(run: RunChangeProbe, judge: Pick<RunWriter, 'isActive'>): Promise<void> {
  const holder = await activeWriter(run.lease, judge);
  if (holder !== undefined) throw new RunInChangeError(run.location, { kind: 'writer', holder });
  if (await run.rewritePending()) throw new RunInChangeError(run.location, { kind: 'swap' });
}
