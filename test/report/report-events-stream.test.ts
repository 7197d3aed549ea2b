/**
 * report.html's aggregates from the event log streamed as the store holds it (writers one after another,
 * samples timestamped on acceptance) are the aggregates of the same events merged in time order: the order
 * the page was once built from, with every event in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import { buildReportData, MAX_BINS, type ReportJsonView, type ReportSources } from '../../orchestrator/src/core/report/report-html.ts';
import { readRunEvents, streamRunEvents, type RunEvent } from '../../orchestrator/src/core/report/run-events.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { smallRun } from './small-run.ts';

describe('report data from the streamed event log', () => {
  let directory: string;
  let store: LocalRunStore;
  let sources: Omit<ReportSources, 'events'>;
  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'raiden-stream-'));
    // Two invocations with the same writer clock's start: the second's events follow the first's in the file.
    await smallRun({ directory, clock: steppingClock(), writer: 'first', stopAfter: 10, killed: true });
    await smallRun({ directory, clock: steppingClock(new Date('2026-01-01T02:00:00Z')), writer: 'second' });
    store = await LocalRunStore.open(directory);
    sources = {
      report: await store.readJson<ReportJsonView>(RUN_FILES.report),
      samples: () => store.readSamples(),
      rejects: () => store.readRejects(),
      prices: DEFAULT_PRICES,
    };
  });
  afterAll(() => {
    store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('equals the data built from the events merged in time order, and from them in reverse', async () => {
    const inTimeOrder = await readRunEvents(store);
    const streamed: RunEvent[] = [];
    for await (const event of streamRunEvents(store)) streamed.push(event);
    // The store's order is not time order, so the comparison is not of one sequence with itself.
    expect(streamed).not.toEqual(inTimeOrder);
    expect([...streamed].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))).toEqual(inTimeOrder);

    const fromStream = await buildReportData({ ...sources, events: () => streamRunEvents(store) });
    expect(fromStream.timeline?.invocations).toHaveLength(2);
    expect(fromStream.timeline?.cost.length).toBeGreaterThan(1);
    expect(await buildReportData({ ...sources, events: () => inTimeOrder })).toEqual(fromStream);
    expect(await buildReportData({ ...sources, events: () => [...inTimeOrder].reverse() })).toEqual(fromStream);
  });

  it('reads the events twice: once for the time range, once into the bins', async () => {
    let reads = 0;
    const events = () => {
      reads++;
      return streamRunEvents(store);
    };
    await buildReportData({ ...sources, events });
    expect(reads).toBe(2);
  });

  it('charts a run of 200,000 events, made one at a time (an array spread into Math.min overflowed the stack at about 120,000)', async () => {
    const origin = Date.parse('2026-01-01T00:00:00Z');
    function* events(): Iterable<RunEvent> {
      yield { at: new Date(origin).toISOString(), writer: 'w', type: 'start' };
      for (let index = 1; index < 200_000; index++)
        yield {
          // Out of time order within each pair, as concurrent answers are accepted.
          at: new Date(origin + index * 100 + (index % 2) * 150).toISOString(),
          writer: 'w',
          type: 'accepted',
          slot: `p${index}/SBK/0`,
          kind: 'SBK',
          backend: 'sglang',
          model: 'qwen',
          attempt: 1,
          usage: { input_tokens: 10, output_tokens: 5 },
        };
    }
    const data = await buildReportData({ report: undefined, samples: () => [], rejects: () => [], events, prices: DEFAULT_PRICES });
    expect(data.timeline?.minutes.length).toBeLessThanOrEqual(MAX_BINS);
    expect(data.timeline?.progress[0]?.values.at(-1)).toBe(199_999);
    expect(data.summary).toContainEqual(['invocations with events', '1']);
  });
});
