import type { GenerationCounters } from '../core/run/generation-run.ts';
import { liveCost } from '../core/report/live-cost.ts';
import type { Prices } from '../core/report/model-prices.ts';
import type { UsageLedger } from '../core/report/run-cost.ts';
import { formatDuration, formatUsd } from './text-table.ts';

export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** What the live cost needs besides the counters and the clock. */
export interface ProgressCost {
  /** Tokens per backend and model so far, updated as the run goes (RunEventLog.usage). */
  readonly usage: UsageLedger;
  readonly prices: Prices;
  /** GPU instances billed while SGLang serves the run. @default 1 */
  readonly sglangInstances?: number;
}

export interface ProgressOptions {
  /** @default 200 ms on a terminal, 10 s otherwise */
  readonly intervalMs?: number;
  /** Shows cost so far and projected at completion when given. */
  readonly cost?: ProgressCost;
}

/**
 * Live progress on stderr: a redrawn bar on a terminal, a plain line every `intervalMs` otherwise (CI logs,
 * nohup), so long runs show signs of life without flooding the log.
 */
export class ProgressDisplay {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private lastLength = 0;
  private readonly intervalMs: number;
  private readonly cost: ProgressCost | undefined;

  constructor(
    private readonly counters: GenerationCounters,
    private readonly inFlight: () => number,
    private readonly output: ProgressOutput,
    options: ProgressOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? (output.isTTY ? 200 : 10_000);
    this.cost = options.cost;
  }

  start(): void {
    this.timer = setInterval(() => this.render(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.render();
    if (this.output.isTTY) this.output.write('\n');
  }

  line(): string {
    const c = this.counters;
    const total = c.totalSlots;
    const finished = c.alreadyDone + c.accepted + c.emptySlots;
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = c.accepted / Math.max(elapsed, 0.001);
    const remaining = total - finished;
    const eta = rate > 0 ? formatDuration(remaining / rate) : '—';
    const stats = `${finished}/${total} slots | accepted ${c.accepted + c.alreadyDone} | rejected ${c.rejected} | in-flight ${this.inFlight()} | ${rate.toFixed(2)} samples/s | ETA ${eta}${this.costText(elapsed)}`;
    if (!this.output.isTTY) return `[raiden] ${formatDuration(elapsed)} ${stats}`;
    const width = 24;
    const filled = total === 0 ? width : Math.round((finished / total) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}`;
  }

  private costText(elapsedSeconds: number): string {
    if (this.cost === undefined) return '';
    const cost = liveCost({ ...this.cost, counters: this.counters, elapsedSeconds });
    const projected = cost.projectedUsd === undefined ? '' : `, ~${formatUsd(cost.projectedUsd)} at completion`;
    // A model missing from the price table makes both amounts a lower bound.
    const floor = cost.unpriced.length > 0 ? '≥' : '';
    return ` | cost ${floor}${formatUsd(cost.usdSoFar)}${projected}`;
  }

  private render(): void {
    const text = this.line();
    if (this.output.isTTY) {
      this.output.write(`\r${text}${' '.repeat(Math.max(0, this.lastLength - text.length))}`);
      this.lastLength = text.length;
    } else {
      this.output.write(`${text}\n`);
    }
  }
}
