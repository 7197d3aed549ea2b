/**
 * report.html: one self-contained page per run, built from report.json, the samples, the rejects and the
 * event log. Node aggregates everything into a small JSON document (time series in at most MAX_BINS bins,
 * counts, a capped set of sample-browser rows); the page embeds it in a non-executed script tag and draws
 * it in the browser with Chart.js, inlined. Nothing is fetched: a Content-Security-Policy allows no
 * connection and only the page's own two scripts, by hash. Profiles and model outputs are hostile input:
 * they reach the page only as JSON text and the page only ever puts them into textContent. The page itself
 * is in page/ (report.html, report.css, report.js), inlined here with the hashes of what was inlined.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RUN_FILES } from '../../contract/run-layout.ts';
import { profileIdOf } from '../run/dataset-split.ts';
import { bedrockPrice, tokenCostUsd, type Prices } from './model-prices.ts';
import type { RunStore } from '../ports/run-store.ts';
import { repriceCost, type RecordedModelRow } from './run-cost.ts';
import { kindOfSlot, mergeSpans, streamRunEvents, type OutputEvent, type RunEvent } from './run-events.ts';
import type { RejectRecord, Sample } from '../verify/sample.ts';

/** The fields of report.json the page shows; absent while a run has not finished. */
export interface ReportJsonView {
  readonly run_id?: string;
  readonly status?: string;
  readonly stopped_reason?: string;
  readonly started_at?: string;
  readonly finished_at?: string;
  readonly plan?: { readonly profiles: number; readonly slots: number };
  readonly samples?: { readonly accepted: number; readonly empty_slots: number; readonly train: number; readonly validation: number };
  readonly rejects?: { readonly total: number };
  readonly requests?: { readonly this_invocation: number; readonly transport_failures: number };
  readonly wall_time_s?: number;
  /** Since report.json described the whole of a resumed run: its invocations and their running time joined. */
  readonly invocations?: number;
  readonly run_time_s?: number;
  readonly this_invocation?: { readonly started_at: string; readonly wall_time_s: number };
  readonly strategy?: { readonly name: string };
  readonly estimate?: {
    readonly slots: number;
    readonly inputTokens: number;
    readonly outputTokens: number;
    readonly bedrock: { readonly usd: number; readonly hours: number };
    readonly sglang: { readonly usd: number; readonly hours: number };
    readonly actual_input_tokens?: number;
    readonly actual_output_tokens?: number;
  };
  readonly cost?: {
    readonly prices_as_of: string;
    readonly total_usd: number;
    readonly by_model: Readonly<Record<string, RecordedModelRow & { readonly usd: number | null; readonly price: string }>>;
    readonly sglang: { readonly gpu_hours: number; readonly usd_per_hour: number; readonly usd: number } | null;
  };
}

export interface ReportSources {
  readonly report: ReportJsonView | undefined;
  /** Read twice: once for the counts, once for the sample browser's rows. */
  readonly samples: () => AsyncIterable<Sample> | Iterable<Sample>;
  readonly rejects: () => AsyncIterable<RejectRecord> | Iterable<RejectRecord>;
  /**
   * Read twice, in any order (streamRunEvents): once for the run's time range, once into the bins. The
   * aggregates hold MAX_BINS numbers per series, per model and per writer, never the events.
   */
  readonly events: () => AsyncIterable<RunEvent> | Iterable<RunEvent>;
  readonly prices: Prices;
  /** GPU instances billed while SGLang served the run. @default 1 */
  readonly sglangInstances?: number;
  /** Most bytes of sample-browser rows to embed. @default BROWSER_BYTES */
  readonly browserBytes?: number;
}

/** Time series get at most this many points, whatever the run's length. */
export const MAX_BINS = 120;
/** About 3 MB of embedded samples and rejects keeps the page quick to open; the JSONL files hold them all. */
export const BROWSER_BYTES = 3_000_000;
/** Slots of each reject reason the browser holds before the even spread, so every reason has examples. */
const SLOTS_PER_REASON = 12;
/** Longest text of one field the browser shows; model reasoning can run long. */
const TEXT_LIMIT = 1_500;
/** Profile fields and topics charted one by one; the rest are summed. */
const TOP_FIELDS = 30;
const KEYWORD_LENGTH_BUCKETS = 20;
// Sub-second sizes first: a run of a few seconds (the demo) still gets a curve, not a single dot.
const BIN_SECONDS = [
  0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400,
];
/** The time axis reads in seconds up to this span, in minutes up to HOURS_FROM, in hours beyond. */
const MINUTES_FROM = 120;
const HOURS_FROM = 7200;

type Counts = Record<string, number>;
/** Keys come from the data: a null prototype keeps `__proto__` an ordinary key. */
const emptyCounts = (): Counts => Object.create(null) as Counts;
const bump = (into: Counts, key: string) => (into[key] = (into[key] ?? 0) + 1);
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export interface Series {
  readonly label: string;
  readonly values: readonly (number | null)[];
}

export interface BrowserSlot {
  readonly id: string;
  readonly profile: string;
  readonly name: string;
  readonly kind: string;
  readonly sample?: {
    readonly question: string;
    readonly answer: string;
    readonly reasoning: string;
    readonly keywords: readonly string[];
    readonly question_type: string;
    readonly difficulty: string;
    readonly attempt: number;
    readonly model: string;
    readonly history: readonly { readonly role: string; readonly content: string }[];
  };
  readonly rejects: readonly {
    readonly reason: string;
    readonly attempt: number;
    readonly detail: string;
    readonly raw_output: string;
    readonly model: string;
  }[];
}

/** Everything the page draws, as embedded JSON. */
export interface ReportData {
  readonly title: string;
  readonly subtitle: string;
  readonly notes: readonly string[];
  readonly summary: readonly (readonly [string, string])[];
  readonly timeline:
    | {
        /** Minutes since the first event, at the end of each bin. */
        readonly minutes: readonly number[];
        readonly binSeconds: number;
        /** The unit the time axis is labelled in, from the run's length. */
        readonly unit: 's' | 'min' | 'h';
        readonly rates: readonly Series[];
        readonly inFlight: Series;
        readonly progress: readonly Series[];
        /** Minutes at which each invocation started. */
        readonly invocations: readonly number[];
        readonly cost: readonly Series[];
        readonly estimate: readonly Series[];
      }
    | undefined;
  readonly rejectsByReason: Counts;
  readonly costTable: readonly (readonly string[])[];
  readonly coverage: { readonly field: Counts; readonly question_type: Counts; readonly kind: Counts; readonly difficulty: Counts };
  readonly keywordLengths: Counts;
  /** [profile id, name, samples, rejects, attempts]. */
  readonly profiles: readonly (readonly [string, string, number, number, number])[];
  readonly browser: { readonly slots: readonly BrowserSlot[]; readonly totalSlots: number; readonly reasons: readonly string[] };
}

interface ProfileRow {
  name: string;
  samples: number;
  rejects: number;
  /** Highest attempt per slot: the attempts the profile's slots took. */
  attempts: Map<string, number>;
}

export async function buildReportData(sources: ReportSources): Promise<ReportData> {
  const report = atPrices(sources.report, sources.prices, sources.sglangInstances ?? 1);
  const notes: string[] = [];
  const profiles = new Map<string, ProfileRow>();
  const profileRow = (id: string) => {
    let row = profiles.get(id);
    if (row === undefined) profiles.set(id, (row = { name: '', samples: 0, rejects: 0, attempts: new Map() }));
    return row;
  };
  const noteAttempt = (row: ProfileRow, slot: string, attempt: number) =>
    row.attempts.set(slot, Math.max(row.attempts.get(slot) ?? 0, Number.isFinite(attempt) ? attempt : 0));

  const rejectsByReason = emptyCounts();
  const reasonsOfSlot = new Map<string, Set<string>>();
  let rejectCount = 0;
  for await (const reject of sources.rejects()) {
    rejectCount++;
    bump(rejectsByReason, reject.reason);
    let reasons = reasonsOfSlot.get(reject.slot_id);
    if (reasons === undefined) reasonsOfSlot.set(reject.slot_id, (reasons = new Set()));
    reasons.add(reject.reason);
    const row = profileRow(profileIdOf(reject.slot_id));
    row.rejects++;
    noteAttempt(row, reject.slot_id, reject.attempt);
  }

  const coverage = { field: emptyCounts(), question_type: emptyCounts(), kind: emptyCounts(), difficulty: emptyCounts() };
  const keywordLengths = emptyCounts();
  const sampleIds: string[] = [];
  for await (const sample of sources.samples()) {
    sampleIds.push(sample.id);
    const row = profileRow(profileIdOf(sample.id));
    row.samples++;
    row.name = sample.character_name;
    noteAttempt(row, sample.id, sample.metadata.attempt);
    bump(coverage.field, focusLabel(sample.metadata.focus));
    bump(coverage.question_type, sample.question_type);
    bump(coverage.kind, sample.metadata.kind);
    bump(coverage.difficulty, sample.difficulty);
    for (const keyword of sample.keywords) {
      const length = [...keyword].length;
      bump(keywordLengths, length > KEYWORD_LENGTH_BUCKETS ? `${KEYWORD_LENGTH_BUCKETS + 1}+` : String(length));
    }
  }

  const slotIds = [...new Set([...sampleIds, ...reasonsOfSlot.keys()])].sort();
  const browser = await browserSlots(sources, slotIds, reasonsOfSlot, sources.browserBytes ?? BROWSER_BYTES);
  if (browser.length < slotIds.length)
    notes.push(
      `The sample browser holds ${browser.length.toLocaleString('en-US')} of ${slotIds.length.toLocaleString('en-US')} slots (the first slots of every reject reason, then an even spread) to keep this file small; samples.jsonl and rejects.jsonl hold them all.`,
    );
  if (report === undefined)
    notes.push('report.json is missing: the run has not finished. The counts come from the samples and rejects written so far.');
  const range = await eventRange(sources.events());
  const timeline = range === undefined ? undefined : await buildTimeline(sources, range, notes);
  if (timeline === undefined)
    notes.push(
      'No events.jsonl: this run was written without the event log, so the charts over time are missing; its counts and coverage are complete.',
    );

  return {
    title: `raiden run ${report?.run_id ?? ''}`.trim(),
    subtitle: [
      report?.status !== undefined
        ? `status ${report.status}${report.stopped_reason !== undefined ? ` (${report.stopped_reason})` : ''}`
        : 'in progress',
      report?.strategy !== undefined ? `strategy ${report.strategy.name}` : undefined,
      report?.started_at !== undefined ? `started ${report.started_at}` : undefined,
      report?.finished_at !== undefined ? `finished ${report.finished_at}` : undefined,
    ]
      .filter((part) => part !== undefined)
      .join(' · '),
    notes,
    summary: summaryRows(report, sampleIds.length, rejectCount, range?.starts ?? 0),
    timeline,
    rejectsByReason: sortedByCount(rejectsByReason),
    costTable: costTable(report),
    coverage: {
      field: topCounts(coverage.field, TOP_FIELDS),
      question_type: coverage.question_type,
      kind: coverage.kind,
      difficulty: coverage.difficulty,
    },
    keywordLengths: Object.fromEntries(Object.entries(keywordLengths).sort(([a], [b]) => Number.parseInt(a, 10) - Number.parseInt(b, 10))),
    profiles: [...profiles.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, row]) => [id, row.name, row.samples, row.rejects, [...row.attempts.values()].reduce((sum, n) => sum + n, 0)] as const),
    browser: { slots: browser, totalSlots: slotIds.length, reasons: Object.keys(sortedByCount(rejectsByReason)) },
  };
}

/**
 * report.json with its cost section at the page's prices, so the summary, the cost table and the cost
 * chart agree (the chart is drawn at these prices) and `raiden report --price-file` reprices them all.
 */
function atPrices(report: ReportJsonView | undefined, prices: Prices, sglangInstances: number): ReportJsonView | undefined {
  if (report?.cost === undefined) return report;
  const cost = repriceCost(report.cost.by_model, prices, {
    wallSeconds: report.run_time_s ?? report.wall_time_s ?? 0,
    sglangInstances,
    ...(report.invocations !== undefined ? { invocations: report.invocations } : {}),
  });
  return { ...report, cost };
}

/** `field:background|why` is the SBK field asked about; `topic:a person the user knows (…)|who` the CM topic. */
function focusLabel(focus: unknown): string {
  if (typeof focus !== 'string' || focus.length === 0) return '(none)';
  const subject = focus.split('|')[0] ?? focus;
  if (subject.startsWith('field:')) return `field: ${subject.slice('field:'.length)}`;
  if (subject.startsWith('topic:')) return `topic: ${subject.slice('topic:'.length).split(' (')[0] ?? ''}`;
  return subject;
}

function sortedByCount(counts: Counts): Counts {
  return Object.fromEntries(Object.entries(counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1)));
}

function topCounts(counts: Counts, top: number): Counts {
  const entries = Object.entries(sortedByCount(counts));
  if (entries.length <= top) return Object.fromEntries(entries);
  const rest = entries.slice(top - 1);
  return {
    ...Object.fromEntries(entries.slice(0, top - 1)),
    [`(${rest.length} others)`]: rest.reduce((sum, [, count]) => sum + count, 0),
  };
}

const clip = (text: unknown) => {
  const value = typeof text === 'string' ? text : '';
  return value.length > TEXT_LIMIT ? `${value.slice(0, TEXT_LIMIT)}…[${value.length - TEXT_LIMIT} more chars]` : value;
};

/**
 * Rows for the browser: each reason's first slots, then every slot in an even spread, taken in that order
 * until the byte budget is spent. Reads the samples and rejects a second time, keeping only those slots.
 */
async function browserSlots(
  sources: ReportSources,
  slotIds: readonly string[],
  reasonsOfSlot: ReadonlyMap<string, ReadonlySet<string>>,
  budget: number,
): Promise<BrowserSlot[]> {
  const order: string[] = [];
  const taken = new Set<string>();
  const take = (id: string) => {
    if (taken.has(id)) return;
    taken.add(id);
    order.push(id);
  };
  const perReason = new Map<string, number>();
  for (const id of slotIds)
    for (const reason of reasonsOfSlot.get(id) ?? []) {
      const count = perReason.get(reason) ?? 0;
      if (count >= SLOTS_PER_REASON) continue;
      perReason.set(reason, count + 1);
      take(id);
    }
  // An even spread: halving strides visit the whole run first coarsely, then ever finer.
  for (let stride = 2 ** Math.ceil(Math.log2(Math.max(1, slotIds.length))); stride >= 1; stride /= 2)
    for (let index = 0; index < slotIds.length; index += stride) take(slotIds[index] as string);

  // Slots beyond a generous bound cannot fit the budget anyway; never hold more of them than that.
  const candidates = new Set(order.slice(0, Math.max(100, Math.ceil(budget / 200))));
  const rows = new Map<string, { sample?: BrowserSlot['sample']; name: string; rejects: BrowserSlot['rejects'][number][] }>();
  const rowOf = (id: string) => {
    let row = rows.get(id);
    if (row === undefined) rows.set(id, (row = { name: '', rejects: [] }));
    return row;
  };
  for await (const sample of sources.samples()) {
    if (!candidates.has(sample.id)) continue;
    const row = rowOf(sample.id);
    row.name = sample.character_name;
    row.sample = {
      question: clip(sample.question),
      answer: clip(sample.answer),
      reasoning: clip(sample.reasoning),
      keywords: sample.keywords.map(clip),
      question_type: sample.question_type,
      difficulty: sample.difficulty,
      attempt: sample.metadata.attempt,
      model: `${sample.metadata.backend}:${sample.metadata.model}`,
      history: sample.conversation_history.map((turn) => ({ role: turn.role, content: clip(turn.content) })),
    };
  }
  for await (const reject of sources.rejects()) {
    if (!candidates.has(reject.slot_id)) continue;
    rowOf(reject.slot_id).rejects.push({
      reason: reject.reason,
      attempt: reject.attempt,
      detail: clip(reject.detail),
      raw_output: clip(reject.raw_output),
      model: reject.model === '' ? reject.backend : `${reject.backend}:${reject.model}`,
    });
  }
  const slots: BrowserSlot[] = [];
  let bytes = 0;
  for (const id of order) {
    const row = rows.get(id);
    if (row === undefined) break;
    const slot: BrowserSlot = {
      id,
      profile: profileIdOf(id),
      name: row.name,
      kind: kindOfSlot(id),
      ...(row.sample !== undefined ? { sample: row.sample } : {}),
      rejects: row.rejects.sort((a, b) => a.attempt - b.attempt),
    };
    bytes += JSON.stringify(slot).length;
    if (bytes > budget && slots.length > 0) break;
    slots.push(slot);
  }
  return slots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function summaryRows(report: ReportJsonView | undefined, samples: number, rejects: number, startEvents: number): [string, string][] {
  const n = (value: number) => value.toLocaleString('en-US');
  const usd = (value: number) => `$${value.toFixed(value < 10 ? 4 : 2)}`;
  const rows: [string, string][] = [];
  rows.push(['samples accepted', report?.plan !== undefined ? `${n(samples)} of ${n(report.plan.slots)} slots` : n(samples)]);
  if (report?.plan !== undefined) rows.push(['profiles', n(report.plan.profiles)]);
  if (report?.samples !== undefined) {
    rows.push(['empty slots', n(report.samples.empty_slots)]);
    rows.push(['train / validation samples', `${n(report.samples.train)} / ${n(report.samples.validation)}`]);
  }
  rows.push(['rejected outputs', n(rejects)]);
  if (report?.requests !== undefined)
    rows.push([
      'requests (last invocation)',
      `${n(report.requests.this_invocation)} (${n(report.requests.transport_failures)} transport failures retried)`,
    ]);
  if (report?.run_time_s !== undefined) {
    const invocations = report.invocations ?? 1;
    const last = report.this_invocation;
    rows.push([
      'running time',
      invocations > 1 && last !== undefined
        ? `${duration(report.run_time_s)} over ${n(invocations)} invocations (this invocation: ${duration(last.wall_time_s)})`
        : duration(report.run_time_s),
    ]);
  } else {
    if (report?.wall_time_s !== undefined) rows.push(['wall time (last invocation)', duration(report.wall_time_s)]);
    if (startEvents > 0) rows.push(['invocations with events', n(startEvents)]);
  }
  if (report?.cost !== undefined) rows.push(['cost', `${usd(report.cost.total_usd)} (prices as of ${report.cost.prices_as_of})`]);
  if (report?.estimate !== undefined)
    rows.push([
      'estimate before the run',
      `${usd(report.estimate.bedrock.usd + report.estimate.sglang.usd)}: ${usd(report.estimate.bedrock.usd)} on Bedrock, ${usd(report.estimate.sglang.usd)} on SGLang as the strategy splits the work (${n(report.estimate.slots)} slots, ${n(report.estimate.outputTokens)} output tokens assumed)`,
    ]);
  if (report?.estimate?.actual_output_tokens !== undefined)
    rows.push([
      'tokens used',
      `${n(report.estimate.actual_input_tokens ?? 0)} input, ${n(report.estimate.actual_output_tokens)} output${(report.invocations ?? 1) > 1 ? ' over all invocations' : ''}`,
    ]);
  return rows;
}

function costTable(report: ReportJsonView | undefined): string[][] {
  if (report?.cost === undefined) return [];
  const rows: string[][] = [['backend', 'model', 'samples', 'rejects', 'review calls', 'input tokens', 'output tokens', 'USD', 'price']];
  for (const row of Object.values(report.cost.by_model))
    rows.push([
      row.backend,
      row.model,
      String(row.samples),
      String(row.rejects),
      String(row.review_calls),
      String(row.input_tokens),
      String(row.output_tokens),
      row.usd === null ? '—' : row.usd.toFixed(4),
      row.price,
    ]);
  const gpu = report.cost.sglang;
  if (gpu !== null)
    rows.push([
      'sglang',
      'GPU time',
      '',
      '',
      '',
      '',
      '',
      gpu.usd.toFixed(4),
      `${duration(gpu.gpu_hours * 3600)} of GPU instance time at $${gpu.usd_per_hour}/h`,
    ]);
  return rows;
}

/** The events' first and last times and how many invocations logged a start; undefined without events. */
interface EventRange {
  readonly origin: number;
  readonly end: number;
  readonly starts: number;
}

async function eventRange(events: AsyncIterable<RunEvent> | Iterable<RunEvent>): Promise<EventRange | undefined> {
  let origin = Infinity;
  let end = -Infinity;
  let starts = 0;
  for await (const event of events) {
    const time = Date.parse(event.at);
    origin = Math.min(origin, time);
    end = Math.max(end, time);
    if (event.type === 'start') starts++;
  }
  return origin === Infinity ? undefined : { origin, end, starts };
}

/**
 * Per bin: rates, in flight, cumulative counts, cost per model and the estimate for the work done, from a
 * second read of the events into bins laid over their range. Counts are integers and the in-flight readings
 * whole numbers, so their order does not change them; the cost sums differ by order only far below the
 * fourth decimal they are rounded to.
 */
async function buildTimeline(sources: ReportSources, range: EventRange, notes: string[]): Promise<ReportData['timeline']> {
  const { prices, report } = sources;
  const { origin } = range;
  const span = (range.end - origin) / 1000;
  const binSeconds = BIN_SECONDS.find((seconds) => Math.floor(span / seconds) + 1 <= MAX_BINS) ?? Math.ceil(span / (MAX_BINS - 1));
  const bins = Math.floor(span / binSeconds) + 1;
  const binOf = (time: number) => Math.min(bins - 1, Math.floor((time - origin) / 1000 / binSeconds));
  const zeros = () => new Array<number>(bins).fill(0);

  const accepted = zeros();
  const rejected = zeros();
  const calls = zeros();
  const modelUsd = new Map<string, number[]>();
  const unpriced = new Set<string>();
  const inFlight = new Map<string, { sum: number[]; count: number[] }>();
  const spans = new Map<string, [number, number]>();
  const invocations: number[] = [];
  const usedBackends = new Set<string>();
  let onSglang = false;

  const addCost = (bin: number, backend: string, model: string, usage: OutputEvent['usage']) => {
    if (backend === 'sglang') onSglang = true;
    if (backend !== 'bedrock' && backend !== 'bedrock-batch') return;
    const price = bedrockPrice(model, prices.bedrock);
    const key = `${backend}:${model}`;
    if (price === undefined) {
      unpriced.add(key);
      return;
    }
    let series = modelUsd.get(key);
    if (series === undefined) modelUsd.set(key, (series = zeros()));
    series[bin] = (series[bin] ?? 0) + tokenCostUsd(usage, price, { batch: backend === 'bedrock-batch' });
  };

  for await (const event of sources.events()) {
    const time = Date.parse(event.at);
    const bin = binOf(time);
    const range = spans.get(event.writer);
    spans.set(event.writer, range === undefined ? [time, time] : [Math.min(range[0], time), Math.max(range[1], time)]);
    if (event.type === 'start') invocations.push(round((time - origin) / 60_000, 6));
    if (event.type === 'in_flight') {
      let readings = inFlight.get(event.writer);
      if (readings === undefined) inFlight.set(event.writer, (readings = { sum: zeros(), count: zeros() }));
      readings.sum[bin] = (readings.sum[bin] ?? 0) + event.requests;
      readings.count[bin] = (readings.count[bin] ?? 0) + 1;
    }
    if (event.type !== 'accepted' && event.type !== 'rejected') continue;
    usedBackends.add(event.backend);
    const outputs = event.type === 'accepted' ? accepted : rejected;
    outputs[bin] = (outputs[bin] ?? 0) + 1;
    calls[bin] = (calls[bin] ?? 0) + 1 + (event.review_calls?.length ?? 0);
    if (event.model !== '') addCost(bin, event.backend, event.model, event.usage);
    for (const call of event.review_calls ?? []) addCost(bin, call.backend, call.model, call.usage);
  }
  // Starts arrive in the store's order; the page lists them in time order.
  invocations.sort((a, b) => a - b);

  const minutes = Array.from({ length: bins }, (_, bin) => round(((bin + 1) * binSeconds) / 60, 6));
  const perMinute = (perBin: number[]) => perBin.map((count) => round((count * 60) / binSeconds, 2));
  const cumulative = (perBin: readonly number[]) => {
    let total = 0;
    return perBin.map((count) => (total += count));
  };
  // Writers run side by side in the workflow: the requests in flight add up over the writers reading in a bin.
  const inFlightValues = Array.from({ length: bins }, (_, bin) => {
    let total: number | null = null;
    for (const readings of inFlight.values()) {
      const count = readings.count[bin] ?? 0;
      if (count > 0) total = (total ?? 0) + (readings.sum[bin] ?? 0) / count;
    }
    return total === null ? null : round(total, 1);
  });

  const cost: Series[] = [...modelUsd.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([label, values]) => ({ label, values: cumulative(values).map((usd) => round(usd, 4)) }));
  if (onSglang) {
    // GPU time bills while any writer runs: the union of the writers' spans, up to each bin's end.
    const merged = mergeSpans([...spans.values()]);
    const rate = (prices.gpuUsdPerHour * (sources.sglangInstances ?? 1)) / 3600;
    cost.push({
      label: `sglang GPU time ($${prices.gpuUsdPerHour}/h)`,
      values: minutes.map((minute) => {
        const end = origin + minute * 60_000;
        const seconds = merged.reduce((sum, [from, to]) => sum + Math.max(0, Math.min(to, end) - from) / 1000, 0);
        return round(seconds * rate, 4);
      }),
    });
  }
  if (unpriced.size > 0)
    notes.push(`No price for ${[...unpriced].sort().join(', ')}: its tokens are left out of the cost chart (add it with --price-file).`);

  const acceptedTotal = cumulative(accepted);
  const estimate: Series[] = [];
  const planned = report?.estimate?.slots ?? report?.plan?.slots ?? 0;
  if (report?.estimate !== undefined && planned > 0) {
    const scaled = (usd: number) => acceptedTotal.map((done) => round((usd * done) / planned, 4));
    if ([...usedBackends].some((backend) => backend.startsWith('bedrock')))
      estimate.push({ label: 'estimate on Bedrock for the samples accepted so far', values: scaled(report.estimate.bedrock.usd) });
    if (onSglang)
      estimate.push({ label: 'estimate on SGLang for the samples accepted so far', values: scaled(report.estimate.sglang.usd) });
  }

  return {
    minutes,
    binSeconds,
    unit: span < MINUTES_FROM ? 's' : span < HOURS_FROM ? 'min' : 'h',
    rates: [
      { label: 'samples accepted per minute', values: perMinute(accepted) },
      { label: 'model calls answered per minute', values: perMinute(calls) },
    ],
    inFlight: { label: 'requests in flight', values: inFlightValues },
    progress: [
      { label: 'accepted (total)', values: acceptedTotal },
      { label: 'rejected (total)', values: cumulative(rejected) },
    ],
    invocations,
    cost,
    estimate,
  };
}

/** Seconds in the unit a reader takes in at a glance: "0.4 s", "12 min 5 s", "3 h 20 min". */
function duration(seconds: number): string {
  if (seconds < 60) return `${round(seconds, 1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

/** The Chart.js build's file name; the Lambda bundle carries a copy of it beside its code. */
export const CHART_LIBRARY_FILE = 'chart.umd.min.js';
/** The page's own files, in this folder beside this module (and beside the code in a Lambda bundle). */
export const PAGE_DIR = 'page';
export const PAGE_FILES = { html: 'report.html', css: 'report.css', script: 'report.js' } as const;

/** The page's files as text: report.html links the other three, which renderReportHtml inlines. */
export interface ReportPage {
  readonly html: string;
  readonly css: string;
  readonly script: string;
  readonly chartLibrary: string;
}

/**
 * Reads the page's files from `base` (this module's folder by default, or a Lambda bundle's): page/ for the
 * page's own files; Chart.js's browser build beside `base` when the bundle carries it, else beside the
 * chart.js package's main file (its package exports no path to it).
 */
export async function loadReportPage(base: URL = new URL('./', import.meta.url)): Promise<ReportPage> {
  const read = (name: string) => readFile(new URL(`${PAGE_DIR}/${name}`, base), 'utf8');
  const [html, css, script] = await Promise.all([read(PAGE_FILES.html), read(PAGE_FILES.css), read(PAGE_FILES.script)]);
  const bundled = await readFile(new URL(CHART_LIBRARY_FILE, base), 'utf8').catch(() => undefined);
  const chartLibrary =
    bundled ?? (await readFile(join(dirname(createRequire(import.meta.url).resolve('chart.js')), CHART_LIBRARY_FILE), 'utf8'));
  return { html, css, script, chartLibrary };
}

let defaultPage: Promise<ReportPage> | undefined;
/** This module's own page files, read once per process. */
function ownReportPage(): Promise<ReportPage> {
  defaultPage ??= loadReportPage();
  return defaultPage;
}

/** JSON as the text of a script element: `<` escaped, so no value can close the element or open a comment. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</gu, '\\u003c')
    .replace(/>/gu, '\\u003e')
    .replace(/&/gu, '\\u0026')
    .replace(/\u2028/gu, '\\u2028')
    .replace(/\u2029/gu, '\\u2029');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/gu, (char) => `&#${char.charCodeAt(0)};`);
}

const cspHash = (script: string) => `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;

/** Replaces the one match of `pattern` in report.html, so a page file that lost a link fails loudly rather than silently. */
function replaceOnce(html: string, pattern: RegExp, replacement: string): string {
  const matches = html.match(new RegExp(pattern.source, `${pattern.flags}g`))?.length ?? 0;
  if (matches !== 1) throw new Error(`${PAGE_DIR}/${PAGE_FILES.html} must hold ${String(pattern)} once, not ${matches} times`);
  return html.replace(pattern, () => replacement);
}

/** Inline script text: the source map comment dropped, and nothing that could end the element early. */
function inlineScript(name: string, text: string): string {
  // The source map comment would make a browser's developer tools ask the disk for a file that is not there.
  const script = text.replace(/\n\/\/# sourceMappingURL=\S*\s*$/u, '\n');
  if (/<\/script|<!--/iu.test(script)) throw new Error(`${name} contains "</script" or "<!--" and cannot be inlined as it is`);
  return script;
}

/**
 * The page: report.html with its title, a Content-Security-Policy that allows no connection and only its own
 * two scripts (by the hashes of the text inlined), the data as JSON, and report.css, Chart.js and report.js
 * inlined in place of their links.
 */
export function renderReportHtml(data: ReportData, page: ReportPage): string {
  const library = inlineScript(CHART_LIBRARY_FILE, page.chartLibrary);
  const script = inlineScript(PAGE_FILES.script, page.script);
  if (/<\/style/iu.test(page.css)) throw new Error(`${PAGE_FILES.css} contains "</style" and cannot be inlined as it is`);
  const csp = `default-src 'none'; script-src ${cspHash(library)} ${cspHash(script)}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;
  let html = page.html;
  html = replaceOnce(
    html,
    /<title>[^<]*<\/title>/u,
    `<meta http-equiv="Content-Security-Policy" content="${csp}">\n<title>${escapeHtml(data.title)}</title>`,
  );
  html = replaceOnce(html, /<link rel="stylesheet" href="report\.css" ?\/?>/u, `<style>${page.css}</style>`);
  html = replaceOnce(
    html,
    /<script type="application\/json" id="report-data"><\/script>/u,
    `<script type="application/json" id="report-data">${scriptJson(data)}</script>`,
  );
  html = replaceOnce(html, /<script src="chart\.umd\.min\.js"><\/script>/u, `<script>${library}</script>`);
  html = replaceOnce(html, /<script src="report\.js"><\/script>/u, `<script>${script}</script>`);
  return html;
}

export interface WriteReportOptions {
  readonly prices: Prices;
  readonly sglangInstances?: number;
  /** The page's files; this module's own (loadReportPage()) when absent. */
  readonly page?: ReportPage;
}

/** Builds report.html from the run's files in the store and writes it there; returns its size in bytes. */
export async function writeReportHtml(store: RunStore, options: WriteReportOptions): Promise<number> {
  const data = await buildReportData({
    report: await store.readJson<ReportJsonView>(RUN_FILES.report),
    samples: () => store.readSamples(),
    rejects: () => store.readRejects(),
    events: () => streamRunEvents(store),
    prices: options.prices,
    ...(options.sglangInstances !== undefined ? { sglangInstances: options.sglangInstances } : {}),
  });
  const html = renderReportHtml(data, options.page ?? (await ownReportPage()));
  await store.writeLines(RUN_FILES.reportHtml, [html.trimEnd()]);
  return Buffer.byteLength(html);
}
