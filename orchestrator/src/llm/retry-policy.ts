import { BackendUnavailableError } from '../core/ports/llm-backend.ts';

export interface RetryPolicy {
  /** Transport retries per call (connection errors, timeouts, 429, 5xx); not counted as sample attempts. */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 6, baseDelayMs: 500, maxDelayMs: 20_000 };

/** A server may ask for a long pause; cap it so one header cannot park a worker for an hour. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Statuses worth retrying: the server is overloaded, restarting or timed out, not rejecting the request. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export function backoffDelayMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** Retry-After as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The user asked the run to stop (Ctrl-C): it ends like an unusable backend, keeping every accepted sample. */
export class StopRequestedError extends BackendUnavailableError {
  constructor() {
    super('interrupted');
  }
}

/** How often a wait looks at the stop flag: Ctrl-C sets a flag, not an event. */
const STOP_POLL_MS = 250;

/**
 * Waits `ms`; with a stop flag, in short steps, throwing StopRequestedError as soon as a stop is requested,
 * so one Ctrl-C never sits out max-retries Retry-After pauses of a minute each.
 */
export async function pauseUnlessStopped(
  ms: number,
  stopRequested: (() => boolean) | undefined,
  wait: (ms: number) => Promise<void> = sleep,
): Promise<void> {
  if (stopRequested === undefined) return wait(ms);
  for (let left = ms; ; left -= STOP_POLL_MS) {
    if (stopRequested()) throw new StopRequestedError();
    if (left <= 0) return;
    await wait(Math.min(left, STOP_POLL_MS));
  }
}
