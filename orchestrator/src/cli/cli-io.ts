import type { ProgressOutput } from './progress-display.ts';

/** Where a command writes, and whether the user asked it to stop (Ctrl-C). */
export interface CliIo {
  readonly stdout: ProgressOutput;
  readonly stderr: ProgressOutput;
  /** Set by a signal handler: workers finish the request in hand and take no new slot. */
  readonly stopRequested?: () => boolean;
}
