import { BackendUnavailableError } from '../core/ports/llm-backend.ts';

export interface CircuitBreakerOptions {
  /** Failed requests in a row (throttles, 5xx, timeouts) before the breaker may open. */
  readonly failureThreshold: number;
  /** And for at least this long without one success, so a short throttle storm does not end a run. */
  readonly openAfterMs: number;
  readonly now?: () => number;
}

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerOptions = { failureThreshold: 50, openAfterMs: 120_000 };

/**
 * Ends a run cleanly when a service keeps failing, instead of letting every worker retry forever: once
 * open it stays open, and every call throws BackendUnavailableError, which stops the run and keeps every
 * sample accepted so far. A CLI run has no use for half-open probing: rerunning the command resumes it.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private firstFailureAt = 0;
  private lastError = '';
  private open = false;
  private readonly now: () => number;

  constructor(
    private readonly service: string,
    private readonly options: CircuitBreakerOptions = DEFAULT_CIRCUIT_BREAKER,
  ) {
    this.now = options.now ?? Date.now;
  }

  onSuccess(): void {
    if (!this.open) this.consecutive = 0;
  }

  onFailure(error: string): void {
    if (this.consecutive === 0) this.firstFailureAt = this.now();
    this.consecutive++;
    this.lastError = error;
    if (this.consecutive >= this.options.failureThreshold && this.now() - this.firstFailureAt >= this.options.openAfterMs) this.open = true;
  }

  isOpen(): boolean {
    return this.open;
  }

  /** Throws once the breaker is open. */
  check(): void {
    if (!this.open) return;
    const seconds = Math.round((this.now() - this.firstFailureAt) / 1000);
    throw new BackendUnavailableError(
      `${this.service} failed ${this.consecutive} requests in a row over ${seconds} s (last: ${this.lastError}); stopped to keep what is done: run the same command again later, lower the concurrency, or ask for a higher quota`,
    );
  }
}
