import type { GenerationCounters } from '../core/generation-run.ts';
import { formatDuration } from './text-table.ts';

export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/**
 * Live progress on stderr: a redrawn bar on a terminal, a plain line every `intervalMs` otherwise (CI logs,
 * nohup), so long runs show signs of life without flooding the log.
 */
export class ProgressDisplay {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  private lastLength = 0;

  constructor(
    private readonly counters: GenerationCounters,
    private readonly inFlight: () => number,
    private readonly output: ProgressOutput,
    private readonly intervalMs = output.isTTY ? 200 : 10_000,
  ) {}

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
    const stats = `${finished}/${total} slots | accepted ${c.accepted + c.alreadyDone} | rejected ${c.rejected} | in-flight ${this.inFlight()} | ${rate.toFixed(2)} samples/s | ETA ${eta}`;
    if (!this.output.isTTY) return `[raiden] ${formatDuration(elapsed)} ${stats}`;
    const width = 24;
    const filled = total === 0 ? width : Math.round((finished / total) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}`;
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
