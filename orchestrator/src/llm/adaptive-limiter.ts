/** Concurrency bounds of an adaptive limiter: where it starts and the ceiling it never exceeds. */
export interface AdaptiveLimiterOptions {
  /** Requests in flight allowed at first; modest, because a quota is unknown until it is hit. */
  readonly initial: number;
  /** The configured ceiling: the limit never grows past it. */
  readonly max: number;
  readonly min?: number;
  /**
   * Share of the limit kept after a throttle (multiplicative decrease). Gentler than TCP's halving: a
   * throttle from a rate quota means "a little too fast", not a collapsed queue. Against a token-bucket
   * test server, 0.8 held 72-79% of the allowed rate where 0.5 held 56%.
   */
  readonly decreaseFactor?: number;
}

/** A slot in the limiter, handed back with `release`; its window tells which cut it was admitted under. */
export interface Permit {
  readonly window: number;
}

export interface LimiterStats {
  readonly limit: number;
  readonly inFlight: number;
  readonly peakLimit: number;
  readonly cuts: number;
  readonly throttles: number;
}

/**
 * Additive-increase / multiplicative-decrease concurrency limit, as TCP congestion control does it: every
 * success adds 1/limit (so one whole request per window of successes), a throttle cuts the limit. Only
 * one cut per window: requests already in flight when the limit was cut were sent at the old rate, so their
 * throttles say nothing new (this is what keeps a burst of 30 simultaneous 429s from cutting the limit to 1).
 */
export class AdaptiveLimiter {
  private limitValue: number;
  private readonly max: number;
  private readonly min: number;
  private readonly decreaseFactor: number;
  private active = 0;
  private windowId = 0;
  private peak: number;
  private cutCount = 0;
  private throttleCount = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: AdaptiveLimiterOptions) {
    this.max = Math.max(1, options.max);
    this.min = Math.max(1, Math.min(options.min ?? 1, this.max));
    this.limitValue = Math.min(this.max, Math.max(this.min, options.initial));
    this.decreaseFactor = options.decreaseFactor ?? 0.8;
    this.peak = this.limitValue;
  }

  /** Waits until fewer than `limit` requests are in flight, then takes a slot. */
  async acquire(): Promise<Permit> {
    while (this.active >= Math.floor(this.limitValue)) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    return { window: this.windowId };
  }

  release(): void {
    this.active--;
    this.wake();
  }

  onSuccess(): void {
    const before = Math.floor(this.limitValue);
    this.limitValue = Math.min(this.max, this.limitValue + 1 / this.limitValue);
    this.peak = Math.max(this.peak, this.limitValue);
    if (Math.floor(this.limitValue) > before) this.wake();
  }

  /** A throttle (or an overloaded service) answered a request admitted under `permit`. */
  onThrottle(permit: Permit): void {
    this.throttleCount++;
    if (permit.window !== this.windowId) return;
    this.windowId++;
    this.cutCount++;
    this.limitValue = Math.max(this.min, this.limitValue * this.decreaseFactor);
  }

  stats(): LimiterStats {
    return {
      limit: Math.floor(this.limitValue),
      inFlight: this.active,
      peakLimit: Math.floor(this.peak),
      cuts: this.cutCount,
      throttles: this.throttleCount,
    };
  }

  private wake(): void {
    let free = Math.floor(this.limitValue) - this.active;
    while (free-- > 0 && this.waiting.length > 0) this.waiting.shift()?.();
  }
}
