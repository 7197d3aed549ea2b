import { describe, expect, it } from 'vitest';
import { newCounters } from '../../orchestrator/src/core/run/generation-run.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import { addEventUsage } from '../../orchestrator/src/core/report/run-events.ts';
import type { UsageLedger } from '../../orchestrator/src/core/report/run-cost.ts';
import { ProgressDisplay } from '../../orchestrator/src/cli/progress-display.ts';

function capture(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, output: { isTTY, write: (text: string) => writes.push(text) } };
}

describe('progress display', () => {
  it('redraws one bar in place on a terminal, with accepted, rejected, in-flight and throughput', () => {
    const counters = newCounters(10, 2);
    counters.accepted = 3;
    counters.rejected = 1;
    const { writes, output } = capture(true);
    const display = new ProgressDisplay(counters, () => 7, output, { intervalMs: 60_000 });
    display.start();
    display.stop();
    expect(writes[0]).toMatch(/^\r\[#+\.+\] 5\/10 slots \| accepted 5 \| rejected 1 \| in-flight 7 \| \d+\.\d\d samples\/s \| ETA /);
    expect(writes.at(-1)).toBe('\n');
  });

  it('prints plain lines when the output is not a terminal', () => {
    const counters = newCounters(4, 0);
    counters.accepted = 4;
    const { writes, output } = capture(false);
    const display = new ProgressDisplay(counters, () => 0, output, { intervalMs: 60_000 });
    display.start();
    display.stop();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\[raiden\] \S+ 4\/4 slots \| accepted 4 \| rejected 0 \| in-flight 0 .*\n$/);
    expect(writes[0]).not.toContain('\r');
  });

  it('shows cost so far and projected at completion from the live token counts', () => {
    const counters = newCounters(10, 0);
    counters.accepted = 2;
    const usage: UsageLedger = {};
    // Two Sonnet samples of 1M input and 100k output tokens each: 2 x (3 + 1.5) USD.
    for (const slot of ['p/SBK/0', 'p/SBK/1'])
      addEventUsage(usage, {
        at: '2026-01-01T00:00:00Z',
        writer: 'w',
        type: 'accepted',
        slot,
        kind: 'SBK',
        backend: 'bedrock',
        model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
        attempt: 1,
        usage: { input_tokens: 1_000_000, output_tokens: 100_000 },
      });
    const { writes, output } = capture(false);
    const display = new ProgressDisplay(counters, () => 0, output, { intervalMs: 60_000, cost: { usage, prices: DEFAULT_PRICES } });
    display.start();
    display.stop();
    expect(writes[0]).toContain('| cost $9.00, ~$45 at completion\n');
  });

  it('marks the cost as a lower bound while a model has no price', () => {
    const counters = newCounters(4, 0);
    const usage: UsageLedger = {};
    addEventUsage(usage, {
      at: '2026-01-01T00:00:00Z',
      writer: 'w',
      type: 'rejected',
      slot: 'p/SBK/0',
      kind: 'SBK',
      backend: 'bedrock',
      model: 'acme.unknown-model',
      attempt: 1,
      reason: 'invalid_json',
      usage: { input_tokens: 10, output_tokens: 10 },
    });
    const display = new ProgressDisplay(counters, () => 0, capture(false).output, { cost: { usage, prices: DEFAULT_PRICES } });
    expect(display.line()).toMatch(/\| cost ≥\$0\.00$/u);
  });
});
