/**
 * Caps requests in flight. Held only while a request is on the wire, never during a retry's backoff, so a
 * worker waiting out a 429 does not leave a server slot idle: another worker's request takes its place.
 */
export class InFlightLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.active;
  }

  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    // The releasing request hands its place straight to the next waiter, so `active` never exceeds `max`.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
