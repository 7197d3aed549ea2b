/**
 * The run's event log (events.jsonl): one compact record per accepted sample, per reject and per
 * requests-in-flight reading, written as the run goes. report.html draws the run's shape over time from it
 * (rates, requests in flight, rejects, cost), which samples.jsonl and report.json cannot show. Locally it
 * is appended like samples.jsonl, so a kill -9 loses at most a torn last line (cut on resume); in S3 every
 * writer (one per batch invocation) writes objects of its own and readRunEvents merges them in time order.
 */
import { randomUUID } from 'node:crypto';
import type { RejectRecord, RunEventRecord, RunStore, Sample, WriteCondition } from '../ports/run-store.ts';
import { ledgerRow, type ModelLedgerRow, type UsageLedger } from './run-cost.ts';
import type { ReviewCall, TokenUsage } from '../verify/sample.ts';

// Type aliases, not interfaces: a port record is a Record<string, unknown>, which only aliases satisfy.
type EventBase = {
  /** ISO time: when the sample was accepted or the output rejected (their own timestamps), or the reading taken. */
  readonly at: string;
  /** Which invocation wrote it: its span bills GPU time, and its in-flight readings add to the others'. */
  readonly writer: string;
};

/** An invocation began (or, `end`, finished) writing. */
export type BoundaryEvent = EventBase & {
  readonly type: 'start' | 'end';
};

/** A model output that was accepted or rejected, with the tokens it and its review calls used. */
export type OutputEvent = EventBase & {
  readonly type: 'accepted' | 'rejected';
  readonly slot: string;
  /** SBK or CM, from the slot id. */
  readonly kind: string;
  readonly backend: string;
  /** Empty for a call that failed before any model answered. */
  readonly model: string;
  readonly attempt: number;
  readonly usage: TokenUsage;
  readonly reason?: string;
  readonly review_calls?: readonly ReviewCall[];
};

/** Requests this writer had waiting for a response at `at`. */
export type InFlightEvent = EventBase & {
  readonly type: 'in_flight';
  readonly requests: number;
};

export type RunEvent = BoundaryEvent | OutputEvent | InFlightEvent;

export interface RunEventLogOptions {
  readonly now?: () => Date;
  /**
   * When the invocation started (its plan's time): the start event carries it, so the run's running time
   * over its invocations counts the preflight before the first event. @default now()
   */
  readonly startedAt?: Date;
  /** Names this writer's events. @default the start time and a random suffix */
  readonly writer?: string;
}

/**
 * A RunStore that logs an event after each accepted sample and each reject it writes to the store it wraps,
 * plus `sample(inFlight)` readings. Give it to the generation instead of the store; call prepareAppends
 * before the first slot and finish after the last.
 */
export class RunEventLog implements RunStore {
  readonly location: string;
  private readonly writer: string;
  /** Tokens and calls per backend and model of the outputs this writer logged, for the live cost. */
  readonly usage: UsageLedger = {};
  private readonly now: () => Date;
  private readonly startedAt: Date | undefined;

  constructor(
    private readonly inner: RunStore,
    options: RunEventLogOptions = {},
  ) {
    this.location = inner.location;
    this.now = options.now ?? (() => new Date());
    this.startedAt = options.startedAt;
    this.writer = options.writer ?? `${new Date().toISOString()}-${randomUUID().slice(0, 8)}`;
  }

  /** Prepares the store it wraps (locally: cuts torn tails, events.jsonl's too) and logs this invocation's start. */
  async prepareAppends(): Promise<void> {
    await this.inner.prepareAppends();
    await this.log({ at: (this.startedAt ?? this.now()).toISOString(), writer: this.writer, type: 'start' });
  }

  async appendSample(sample: Sample): Promise<void> {
    await this.inner.appendSample(sample);
    await this.logOutput(sampleEvent(sample, this.writer));
  }

  async appendReject(reject: RejectRecord): Promise<void> {
    await this.inner.appendReject(reject);
    await this.logOutput(rejectEvent(reject, this.writer));
  }

  /** Records how many requests are in flight now; call it periodically (sampleEvery does). */
  async sample(inFlight: number): Promise<void> {
    await this.log({ at: this.now().toISOString(), writer: this.writer, type: 'in_flight', requests: inFlight });
  }

  /** Calls sample(inFlight()) every intervalMs until the returned stop is called. */
  sampleEvery(inFlight: () => number, intervalMs: number): () => void {
    const timer = setInterval(() => {
      // A lost reading only thins the in-flight curve; it must not take the run down with it.
      this.sample(inFlight()).catch(() => undefined);
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Logs this invocation's end and writes any buffered events (S3). */
  async finish(): Promise<void> {
    await this.log({ at: this.now().toISOString(), writer: this.writer, type: 'end' });
    await this.inner.flushEvents();
  }

  readSamples(): AsyncIterable<Sample> {
    return this.inner.readSamples();
  }

  readRejects(): AsyncIterable<RejectRecord> {
    return this.inner.readRejects();
  }

  readJson<T>(name: string): Promise<T | undefined> {
    return this.inner.readJson<T>(name);
  }

  writeJson(name: string, value: unknown, condition?: WriteCondition): Promise<void> {
    return this.inner.writeJson(name, value, condition);
  }

  writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
    return this.inner.writeLines(name, lines);
  }

  appendEvent(event: RunEventRecord): Promise<void> {
    return this.inner.appendEvent(event);
  }

  flushEvents(): Promise<void> {
    return this.inner.flushEvents();
  }

  readEvents(): AsyncIterable<RunEventRecord> {
    return this.inner.readEvents();
  }

  private async logOutput(event: OutputEvent): Promise<void> {
    addEventUsage(this.usage, event);
    await this.log(event);
  }

  private async log(event: RunEvent): Promise<void> {
    await this.inner.appendEvent(event);
  }
}

function sampleEvent(sample: Sample, writer: string): OutputEvent {
  const calls = sample.metadata.review_calls;
  return {
    at: sample.metadata.generated_at,
    writer,
    type: 'accepted',
    slot: sample.id,
    kind: sample.metadata.kind,
    backend: sample.metadata.backend,
    model: sample.metadata.model,
    attempt: sample.metadata.attempt,
    usage: sample.metadata.usage,
    ...(Array.isArray(calls) && calls.length > 0 ? { review_calls: calls as ReviewCall[] } : {}),
  };
}

function rejectEvent(reject: RejectRecord, writer: string): OutputEvent {
  return {
    at: reject.rejected_at,
    writer,
    type: 'rejected',
    slot: reject.slot_id,
    kind: kindOfSlot(reject.slot_id),
    backend: reject.backend,
    model: reject.model,
    attempt: reject.attempt,
    usage: reject.usage,
    reason: reject.reason,
    ...(reject.review_calls !== undefined && reject.review_calls.length > 0 ? { review_calls: reject.review_calls } : {}),
  };
}

/** Slot ids are `<profile>/<kind>/<index>`. */
export function kindOfSlot(slotId: string): string {
  return slotId.split('/')[1] ?? '';
}

/** Adds an output event's tokens to a ledger the way buildUsageLedger counts samples and rejects. */
export function addEventUsage(ledger: UsageLedger, event: RunEvent): void {
  if (event.type !== 'accepted' && event.type !== 'rejected') return;
  if (event.model !== '') {
    const row = ledgerRow(ledger, event.backend, event.model);
    if (event.type === 'accepted') row.samples++;
    else row.rejects++;
    addTokens(row, event.usage);
  }
  for (const call of event.review_calls ?? []) {
    const row = ledgerRow(ledger, call.backend, call.model);
    row.review_calls++;
    addTokens(row, call.usage);
  }
}

function addTokens(row: ModelLedgerRow, usage: TokenUsage): void {
  row.input_tokens += usage.input_tokens;
  row.output_tokens += usage.output_tokens;
  row.cache_read_input_tokens += usage.cache_read_input_tokens ?? 0;
  row.cache_write_input_tokens += usage.cache_write_input_tokens ?? 0;
}

const EVENT_TYPES: ReadonlySet<string> = new Set<RunEvent['type']>(['start', 'end', 'accepted', 'rejected', 'in_flight']);

function isRunEvent(record: RunEventRecord): boolean {
  if (typeof record.at !== 'string' || Number.isNaN(Date.parse(record.at))) return false;
  if (typeof record.writer !== 'string' || typeof record.type !== 'string' || !EVENT_TYPES.has(record.type)) return false;
  if (record.type === 'in_flight') return typeof record.requests === 'number';
  if (record.type === 'accepted' || record.type === 'rejected') {
    const usage = record.usage as Partial<TokenUsage> | undefined;
    return (
      typeof record.slot === 'string' &&
      typeof record.backend === 'string' &&
      typeof record.model === 'string' &&
      typeof usage?.input_tokens === 'number' &&
      typeof usage.output_tokens === 'number'
    );
  }
  return true;
}

/**
 * Every writer's events as the store holds them, one record at a time: not in time order (writers' objects
 * follow one another, and an accepted sample carries its own timestamp), holding none of them. Records of a
 * shape this version does not know are skipped.
 */
export async function* streamRunEvents(store: Pick<RunStore, 'readEvents'>): AsyncIterable<RunEvent> {
  for await (const record of store.readEvents()) if (isRunEvent(record)) yield record as unknown as RunEvent;
}

/**
 * Every writer's events merged in time order (ties keep the order written). Holds them all, about 200 bytes
 * each in memory: a reader that can aggregate in any order takes streamRunEvents instead.
 */
export async function readRunEvents(store: Pick<RunStore, 'readEvents'>): Promise<RunEvent[]> {
  const events: { event: RunEvent; time: number }[] = [];
  for await (const event of streamRunEvents(store)) events.push({ event, time: Date.parse(event.at) });
  return events.sort((a, b) => a.time - b.time).map(({ event }) => event);
}

/** Overlapping or touching [from, to] spans joined, in time order. */
export function mergeSpans(spans: readonly (readonly [number, number])[]): [number, number][] {
  const merged: [number, number][] = [];
  for (const [from, to] of [...spans].sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  return merged;
}

/** The run over all its invocations, as its event log records them. */
export interface RunHistory {
  /** When the run's first invocation started. */
  readonly startedAt: Date;
  /** Seconds in which any invocation was running (their spans joined): the time GPU instances billed for the run. */
  readonly runSeconds: number;
  /** Invocations that wrote to the run (each batch invocation of a workflow), this one included. */
  readonly invocations: number;
}

/**
 * The run's history from its events and this invocation's span (which its events may not cover yet: the
 * finish comes after the last event). A run written without events is this invocation alone.
 */
export async function runHistory(
  events: AsyncIterable<RunEvent> | Iterable<RunEvent>,
  current: { readonly startedAt: Date; readonly finishedAt: Date },
): Promise<RunHistory> {
  // A fold in any order, so the event log is streamed, never held.
  const spans = new Map<string, [number, number]>();
  const starts = new Set<string>();
  for await (const event of events) {
    const time = Date.parse(event.at);
    const span = spans.get(event.writer);
    spans.set(event.writer, span === undefined ? [time, time] : [Math.min(span[0], time), Math.max(span[1], time)]);
    if (event.type === 'start') starts.add(event.writer);
  }
  const now: [number, number] = [current.startedAt.getTime(), current.finishedAt.getTime()];
  const merged = mergeSpans([...spans.values(), now]);
  return {
    startedAt: new Date(Math.min(now[0], ...[...spans.values()].map(([from]) => from))),
    runSeconds: merged.reduce((sum, [from, to]) => sum + (to - from) / 1000, 0),
    invocations: Math.max(1, starts.size),
  };
}
