import { describe, expect, it } from 'vitest';
import { newCounters } from '../../orchestrator/src/core/generation-run.ts';
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
    const display = new ProgressDisplay(counters, () => 7, output, 60_000);
    display.start();
    display.stop();
    expect(writes[0]).toMatch(/^\r\[#+\.+\] 5\/10 slots \| accepted 5 \| rejected 1 \| in-flight 7 \| \d+\.\d\d samples\/s \| ETA /);
    expect(writes.at(-1)).toBe('\n');
  });

  it('prints plain lines when the output is not a terminal', () => {
    const counters = newCounters(4, 0);
    counters.accepted = 4;
    const { writes, output } = capture(false);
    const display = new ProgressDisplay(counters, () => 0, output, 60_000);
    display.start();
    display.stop();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\[raiden\] \S+ 4\/4 slots \| accepted 4 \| rejected 0 \| in-flight 0 .*\n$/);
    expect(writes[0]).not.toContain('\r');
  });
});
