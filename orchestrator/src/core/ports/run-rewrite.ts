/**
 * A run's files replaced as one change (`raiden reverify`): the new version is written to a staged store
 * beside the run, then swapped in by commit. A crash before the commit leaves the run as it was; the
 * commit first records what it swaps, so a swap cut short is finished the next time the run is opened
 * for a rewrite. store/ implements it for a run directory and for a run's S3 prefix.
 */
import type { RunStore } from './run-store.ts';

export interface RunRewrite {
  /** An empty store beside the run: what the run will hold after the commit. */
  readonly staged: RunStore;
  /** Swaps every file the staged store holds in for the run's (in S3, the per-record parts too). */
  commit(): Promise<void>;
  /** Drops the staged files; the run stays as it was. */
  abandon(): Promise<void>;
}
