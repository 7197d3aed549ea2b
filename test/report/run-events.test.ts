/**
 * The event log: what RunEventLog writes, locally (torn tail, kill -9, resume) and in S3 (a writer's own
 * objects, merged in time order), and the report of a run that was killed and resumed.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PARTS, RUN_FILES } from '../../orchestrator/src/contract/run-layout.ts';
import { buildUsageLedger } from '../../orchestrator/src/core/report/run-cost.ts';
import { readRunEvents, RunEventLog, type OutputEvent } from '../../orchestrator/src/core/report/run-events.ts';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { S3RunStore } from '../../orchestrator/src/store/s3-run-store.ts';
import { steppingClock } from '../pipeline/run-in-process.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';
import { MemoryRunStore } from '../support/memory-run-store.ts';
import { ROOT } from '../support/run-cli.ts';
import { reportDataOf } from './report-data.ts';
import { smallRun } from './small-run.ts';

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

const sample = (id: string, at: string, extra: Record<string, unknown> = {}) =>
  ({
    id,
    question: `q ${id}`,
    metadata: {
      kind: id.split('/')[1],
      backend: 'sglang',
      model: 'qwen',
      attempt: 2,
      generated_at: at,
      usage: { input_tokens: 7, output_tokens: 3 },
      ...extra,
    },
  }) as unknown as Sample;

const reject = (slot: string, at: string, extra: Partial<RejectRecord> = {}): RejectRecord => ({
  slot_id: slot,
  attempt: 1,
  reason: 'invalid_json',
  detail: '',
  raw_output: '{',
  backend: 'sglang',
  model: 'qwen',
  usage: { input_tokens: 5, output_tokens: 2 },
  rejected_at: at,
  ...extra,
});

const directories: string[] = [];
const tempRun = () => {
  const directory = mkdtempSync(join(tmpdir(), 'raiden-events-'));
  directories.push(directory);
  return directory;
};
afterAll(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

describe('RunEventLog', () => {
  it('writes through to the store it wraps and logs one event per sample, reject, reading, start and end', async () => {
    const inner = new MemoryRunStore();
    const log = new RunEventLog(inner, { now: steppingClock(), writer: 'w1' });
    await log.prepareAppends();
    const judge = { purpose: 'judge', backend: 'bedrock', model: SONNET, usage: { input_tokens: 40, output_tokens: 9 } };
    await log.appendSample(sample('p/SBK/0', '2026-01-01T00:00:05.000Z', { review_calls: [judge] }));
    await log.appendReject(reject('p/CM/1', '2026-01-01T00:00:06.000Z', { reason: 'transport_error', model: '' }));
    await log.sample(3);
    await log.finish();

    expect(inner.samples.map((s) => s.id)).toEqual(['p/SBK/0']);
    expect(inner.rejects.map((r) => r.slot_id)).toEqual(['p/CM/1']);
    expect(inner.events).toEqual([
      { at: '2026-01-01T00:00:00.000Z', writer: 'w1', type: 'start' },
      {
        at: '2026-01-01T00:00:05.000Z',
        writer: 'w1',
        type: 'accepted',
        slot: 'p/SBK/0',
        kind: 'SBK',
        backend: 'sglang',
        model: 'qwen',
        attempt: 2,
        usage: { input_tokens: 7, output_tokens: 3 },
        review_calls: [judge],
      },
      {
        at: '2026-01-01T00:00:06.000Z',
        writer: 'w1',
        type: 'rejected',
        slot: 'p/CM/1',
        kind: 'CM',
        backend: 'sglang',
        model: '',
        attempt: 1,
        usage: { input_tokens: 5, output_tokens: 2 },
        reason: 'transport_error',
      },
      { at: '2026-01-01T00:00:01.000Z', writer: 'w1', type: 'in_flight', requests: 3 },
      { at: '2026-01-01T00:00:02.000Z', writer: 'w1', type: 'end' },
    ]);
    // The live ledger counts exactly what report.json's ledger counts from the same records.
    expect(log.usage).toEqual(await buildUsageLedger(inner.samples, inner.rejects));
    expect((await readRunEvents(log)).map((event) => event.type)).toEqual(['start', 'in_flight', 'end', 'accepted', 'rejected']);
  });

  it('samples the requests in flight on a timer until stopped', async () => {
    vi.useFakeTimers();
    try {
      const inner = new MemoryRunStore();
      const log = new RunEventLog(inner, { now: steppingClock(), writer: 'w' });
      let inFlight = 0;
      const stop = log.sampleEvery(() => ++inFlight, 5_000);
      await vi.advanceTimersByTimeAsync(15_000);
      stop();
      await vi.advanceTimersByTimeAsync(15_000);
      expect(inner.events.map((event) => event.requests)).toEqual([1, 2, 3]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('skips records of an unknown shape when reading', async () => {
    const store = new MemoryRunStore();
    store.events.push({ at: 'not a time', writer: 'w', type: 'start' }, { at: '2026-01-01T00:00:00Z', writer: 'w', type: 'launch' });
    store.events.push({ at: '2026-01-01T00:00:01Z', writer: 'w', type: 'accepted', slot: 'p/SBK/0' });
    store.events.push({ at: '2026-01-01T00:00:02Z', writer: 'w', type: 'in_flight', requests: 2 });
    expect(await readRunEvents(store)).toEqual([{ at: '2026-01-01T00:00:02Z', writer: 'w', type: 'in_flight', requests: 2 }]);
  });
});

describe('events.jsonl in a local run directory', () => {
  it('cuts a torn tail on resume and appends after the last whole line', async () => {
    const directory = tempRun();
    const first = await LocalRunStore.open(directory);
    const log = new RunEventLog(first, { now: steppingClock(), writer: 'w1' });
    await log.prepareAppends();
    await log.appendReject(reject('p/SBK/0', '2026-01-01T00:00:03.000Z'));
    first.close();
    // A kill in the middle of write(2): half a line, no newline.
    appendFileSync(join(directory, RUN_FILES.events), '{"at":"2026-01-01T00:00:04.000Z","writer":"w1","type":"rej');

    const second = await LocalRunStore.open(directory);
    const resumed = new RunEventLog(second, { now: steppingClock(new Date('2026-01-01T01:00:00Z')), writer: 'w2' });
    await resumed.prepareAppends();
    await resumed.appendSample(sample('p/SBK/0', '2026-01-01T01:00:05.000Z'));
    second.close();

    const text = readFileSync(join(directory, RUN_FILES.events), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { type: string }).type),
    ).toEqual(['start', 'rejected', 'start', 'accepted']);
    expect((await readRunEvents(await LocalRunStore.open(directory))).map((event) => event.writer)).toEqual(['w1', 'w1', 'w2', 'w2']);
  });

  it('survives kill -9 of a writer in full flow: every line is whole after resume', async () => {
    const directory = tempRun();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/report/append-events-until-killed.ts'), directory], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const eventsFile = join(directory, RUN_FILES.events);
    // Wait for a good stretch of appends (about 1,000 events), then kill mid-flow.
    while ((statSync(eventsFile, { throwIfNoEntry: false })?.size ?? 0) < 250_000) {
      if (child.exitCode !== null) throw new Error(`the writer exited by itself: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const store = await LocalRunStore.open(directory);
    const log = new RunEventLog(store, { writer: 'after' });
    await log.prepareAppends();
    await log.appendReject(reject('p/SBK/0', new Date().toISOString()));
    store.close();
    const lines = readFileSync(eventsFile, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    const events = await readRunEvents(store);
    expect(events).toHaveLength(lines.length);
    const killed = events.filter((event): event is OutputEvent => event.writer === 'killed' && event.type === 'rejected');
    expect(killed.length).toBeGreaterThan(50);
    // The reject is written before its event: no event without its reject.
    const rejects = readFileSync(join(directory, RUN_FILES.rejects), 'utf8').split('\n').filter(Boolean);
    expect(rejects.length).toBeGreaterThanOrEqual(killed.length + 1);
    expect(events.at(-1)).toMatchObject({ writer: 'after', type: 'rejected' });
  });

  it("a killed and resumed run's report covers both invocations", async () => {
    const directory = tempRun();
    await smallRun({ directory, clock: steppingClock(), writer: 'first', stopAfter: 10, killed: true });
    appendFileSync(join(directory, RUN_FILES.events), '{"at":"2026-01-01T00:09:00.000Z","wri');
    const resumedAt = new Date('2026-01-01T02:00:00Z');
    const { finished } = await smallRun({ directory, clock: steppingClock(resumedAt), writer: 'second' });
    expect(finished?.report.status).toBe('complete');
    expect(finished?.report.samples.already_done_before).toBeGreaterThanOrEqual(10);

    const data = reportDataOf(readFileSync(join(directory, RUN_FILES.reportHtml), 'utf8'));
    const timeline = data.timeline;
    if (timeline === undefined) throw new Error('the report has no timeline');
    expect(timeline.invocations).toHaveLength(2);
    expect(timeline.invocations[1]).toBeGreaterThanOrEqual(120);
    // Every sample of both invocations is in the accepted curve, the profiles table and the browser.
    const accepted = finished?.report.samples.accepted ?? 0;
    expect(timeline.progress[0]?.values.at(-1)).toBe(accepted);
    expect(data.profiles.reduce((sum, row) => sum + row[2], 0)).toBe(accepted);
    expect(data.browser.slots.filter((slot) => slot.sample !== undefined)).toHaveLength(accepted);
    expect(data.summary).toContainEqual(['running time', expect.stringMatching(/ over 2 invocations \(this invocation: /u)]);
    // GPU time bills while an invocation runs, not across the two hours between them.
    const gpu = timeline.cost.find((series) => series.label.startsWith('sglang GPU time'));
    expect(gpu?.values.at(-1)).toBeLessThan(63);
  });
});

describe("a resumed run's report.json", () => {
  it('describes the whole run: first start, running time, cost and tokens over both invocations, this one labelled', async () => {
    const directory = tempRun();
    const first = (await smallRun({ directory, clock: steppingClock(), writer: 'first', stopAfter: 10 })).finished?.report;
    const { finished } = await smallRun({ directory, clock: steppingClock(new Date('2026-01-01T02:00:00Z')), writer: 'second' });
    const second = finished?.report;
    if (first === undefined || second === undefined) throw new Error('a run wrote no report.json');
    expect(first.invocations).toBe(1);
    expect(second.started_at).toBe(first.started_at);
    expect(second.this_invocation.started_at).toBe('2026-01-01T02:00:00.000Z');
    expect(second.invocations).toBe(2);
    // The two hours between the invocations are not running time; each invocation's own time is.
    expect(second.run_time_s).toBeGreaterThanOrEqual(first.run_time_s + second.this_invocation.wall_time_s);
    expect(second.run_time_s).toBeLessThan(3600);
    expect(second.cost.total_usd).toBeGreaterThan(first.cost.total_usd);
    const outputTokens = Object.values(second.tokens.by_model).reduce((sum, row) => sum + row.output_tokens, 0);
    expect(second.estimate.actual_output_tokens).toBeGreaterThan(second.estimate.actual_output_tokens_this_invocation);
    expect(second.estimate.actual_output_tokens).toBeGreaterThanOrEqual(outputTokens);

    const data = reportDataOf(readFileSync(join(directory, RUN_FILES.reportHtml), 'utf8'));
    expect(data.subtitle).toContain(`started ${first.started_at}`);
    expect(data.summary).toContainEqual(['cost', expect.stringMatching(new RegExp(`^\\$${second.cost.total_usd.toFixed(4)} `, 'u'))]);
    expect(data.summary).toContainEqual(['running time', expect.stringMatching(/ over 2 invocations \(this invocation: /u)]);
  });
});

describe('events in S3 (s3rver)', () => {
  const BUCKET = 'raiden-events-test';
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3([BUCKET]);
  });
  afterAll(async () => s3.close());
  const store = (prefix: string, partition?: string) =>
    new S3RunStore({ client: s3.client, bucket: BUCKET, prefix, ...(partition !== undefined ? { partition } : {}) });
  const keys = async (prefix: string) =>
    ((await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((object) => object.Key ?? '');

  it('each batch writer writes its own objects; the whole run reads them merged in time order', async () => {
    const one = new RunEventLog(store('runs/e1/', 'b00000'), { now: steppingClock(new Date('2026-01-01T00:00:00Z')), writer: 'b0' });
    const two = new RunEventLog(store('runs/e1/', 'b00001'), { now: steppingClock(new Date('2026-01-01T00:00:00.500Z')), writer: 'b1' });
    await one.prepareAppends();
    await two.prepareAppends();
    await one.appendReject(reject('a/SBK/0', '2026-01-01T00:00:02.000Z'));
    await two.appendSample(sample('b/SBK/0', '2026-01-01T00:00:01.200Z'));
    await one.appendSample(sample('a/SBK/0', '2026-01-01T00:00:03.000Z'));
    // Buffered until flushed: a writer killed before finish loses its unflushed events, never another's.
    expect(await readRunEvents(store('runs/e1/'))).toEqual([]);
    await one.finish();
    await two.finish();

    const [first, second, ...more] = await keys(`runs/e1/${PARTS.events}`);
    expect(first).toMatch(/^runs\/e1\/parts\/events\/b00000\/[^/]+\/000000\.jsonl$/u);
    expect(second).toMatch(/^runs\/e1\/parts\/events\/b00001\/[^/]+\/000000\.jsonl$/u);
    expect(more).toEqual([]);
    const merged = await readRunEvents(store('runs/e1/'));
    expect(merged.map((event) => `${event.writer}:${event.type}`)).toEqual([
      'b0:start',
      'b1:start',
      'b0:end',
      'b1:accepted',
      'b1:end',
      'b0:rejected',
      'b0:accepted',
    ]);
    expect((await readRunEvents(store('runs/e1/', 'b00001'))).every((event) => event.writer === 'b1')).toBe(true);
  });

  it('writes an object every 500 events without waiting for finish', async () => {
    const log = new RunEventLog(store('runs/e2/', 'b00000'), { writer: 'busy' });
    for (let n = 0; n < 501; n++) await log.sample(n);
    expect(await keys(`runs/e2/${PARTS.events}`)).toHaveLength(1);
    expect(await readRunEvents(store('runs/e2/'))).toHaveLength(500);
    await log.finish();
    expect(await keys(`runs/e2/${PARTS.events}`)).toHaveLength(2);
    expect(await readRunEvents(store('runs/e2/'))).toHaveLength(502);
  });
});
