/**
 * How the AWS workflow cuts a run into GenerateBatch invocations. Pure: the Plan Lambda and the tests call
 * it; nothing here knows about S3 or Lambda beyond the time budget it plans for.
 */
import type { BatchBackend, ManifestItem } from '../../contract/workflow-payloads.ts';
import { EXPECTED_OUTPUT_TOKENS } from '../report/cost-estimate.ts';
import type { Slot } from '../profiles/plan.ts';
import type { SampleKind } from '../verify/sample.ts';
import type { Phase } from '../strategies/strategy.ts';

export type { BatchBackend, ManifestItem };

/** Model calls one GenerateBatch keeps in flight. */
export const BATCH_REQUESTS_IN_FLIGHT = 16;

/**
 * Seconds of work one batch is planned for: a third of Lambda's 15-minute limit, so a slow server or a
 * run of retries still ends in time. A batch that nears the limit anyway stops taking slots and is retried,
 * resuming from the samples it already wrote.
 */
export const BATCH_TIME_BUDGET_SECONDS = 300;

/** Output tokens per second of one request on a busy server (SGLang under load, or Bedrock streaming). */
const DECODE_TOKENS_PER_SECOND = 30;
/** Model calls per slot on average: rejected attempts are retried. */
const CALLS_PER_SLOT = 1.5;
/** Never more than this many slots in one batch, however fast the estimate says they are. */
export const MAX_SLOTS_PER_BATCH = 256;

export interface Batch {
  /** `b00000`, `b00001`, ...: stable for the same plan, so a rerun of a run finds its batches' samples. */
  readonly id: string;
  readonly backend: BatchBackend;
  readonly phase: Phase;
  readonly profileIds: readonly string[];
  readonly slots: readonly Slot[];
}

export interface BatchPlanOptions {
  /** The backend that writes a profile's samples (tiered: validation profiles on Bedrock). */
  readonly backendOf: (profileId: string) => BatchBackend;
  /** The phase that writes a profile's samples (iterative: seed profiles first); `main` when absent. */
  readonly phaseOf?: (profileId: string) => Phase;
  /** Fixed slots per batch instead of the time-budget sizing. */
  readonly maxSlots?: number | undefined;
}

/** Estimated seconds of model time one slot takes, spread over a batch's requests in flight. */
export function slotSeconds(kind: SampleKind): number {
  return (EXPECTED_OUTPUT_TOKENS[kind] / DECODE_TOKENS_PER_SECOND) * CALLS_PER_SLOT;
}

/**
 * Groups slots into batches. All slots of one profile go into the same batch (they share the cached
 * prompt prefix and the duplicate-question check), unless a single profile alone exceeds a batch; batches
 * never mix backends or phases. `slots` must be profile-grouped, as planSlots returns them.
 */
export function planBatches(slots: readonly Slot[], options: BatchPlanOptions): Batch[] {
  const planned = slots.map((slot) => ({ slot, profile: slot.profileId }));
  return [...streamBatches(planned, options)].map(({ profiles: _profiles, ...batch }) => batch);
}

/** A batch with its profiles, as streamBatches yields it. */
export interface PlannedBatch<P> extends Batch {
  /** The profiles of `profileIds`, in the same order. */
  readonly profiles: readonly P[];
}

/**
 * planBatches one batch at a time, in id order: at most one open batch per backend and phase is held, so
 * a caller that writes each batch away as it comes holds memory flat in the number of batches. `slots` is
 * any profile-grouped sequence, such as a generator that derives them as they are reached.
 */
export function* streamBatches<P>(
  slots: Iterable<{ readonly slot: Slot; readonly profile: P }>,
  options: BatchPlanOptions,
): Generator<PlannedBatch<P>> {
  const budget = BATCH_TIME_BUDGET_SECONDS * BATCH_REQUESTS_IN_FLIGHT;
  const maxSlots = options.maxSlots ?? MAX_SLOTS_PER_BATCH;
  let closed = 0;
  type OpenBatch = { backend: BatchBackend; phase: Phase; profileIds: string[]; profiles: P[]; slots: Slot[]; seconds: number };
  const open = new Map<string, OpenBatch>();
  const close = (key: string): PlannedBatch<P> | undefined => {
    const batch = open.get(key);
    if (batch === undefined || batch.slots.length === 0) return undefined;
    open.delete(key);
    const { backend, phase, profileIds, profiles, slots } = batch;
    return { id: batchId(closed++), backend, phase, profileIds, profiles, slots };
  };
  for (const { profile, group } of profileGroups(slots)) {
    const profileId = group[0]?.profileId ?? '';
    const backend = options.backendOf(profileId);
    const phase = options.phaseOf?.(profileId) ?? 'main';
    const key = `${backend}/${phase}`;
    const seconds = group.reduce((sum, slot) => sum + slotSeconds(slot.kind), 0);
    const current = open.get(key);
    if (current !== undefined && (current.slots.length + group.length > maxSlots || current.seconds + seconds > budget)) {
      const done = close(key);
      if (done !== undefined) yield done;
    }
    // A profile too large for one batch gets batches of its own, cut in plan order.
    let rest = group;
    while (rest.length > 0) {
      const batch = open.get(key) ?? { backend, phase, profileIds: [], profiles: [], slots: [], seconds: 0 };
      open.set(key, batch);
      let taken = 0;
      while (taken < rest.length && batch.slots.length < maxSlots) {
        const slot = rest[taken] as Slot;
        if (batch.slots.length > 0 && batch.seconds + slotSeconds(slot.kind) > budget) break;
        batch.slots.push(slot);
        batch.seconds += slotSeconds(slot.kind);
        taken++;
      }
      if (!batch.profileIds.includes(profileId)) {
        batch.profileIds.push(profileId);
        batch.profiles.push(profile);
      }
      rest = rest.slice(taken);
      if (rest.length > 0) {
        const done = close(key);
        if (done !== undefined) yield done;
      }
    }
  }
  for (const key of [...open.keys()]) {
    const done = close(key);
    if (done !== undefined) yield done;
  }
}

/** The id of the batch at `index` in plan order. */
export function batchId(index: number): string {
  return `b${String(index).padStart(5, '0')}`;
}

/** Consecutive slots of one profile, one profile at a time. */
function* profileGroups<P>(slots: Iterable<{ readonly slot: Slot; readonly profile: P }>): Generator<{ profile: P; group: Slot[] }> {
  let current: { profile: P; group: Slot[] } | undefined;
  for (const { slot, profile } of slots) {
    if (current !== undefined && current.group[0]?.profileId !== slot.profileId) {
      yield current;
      current = undefined;
    }
    current ??= { profile, group: [] };
    current.group.push(slot);
  }
  if (current !== undefined) yield current;
}

/** Requests each backend can serve at once: the SGLang fleet's, and Bedrock's quota share for this run. */
export interface BackendCapacity {
  readonly sglangRequests: number;
  readonly bedrockRequests: number;
}

/** Batches per backend: all mapConcurrency needs to know of a phase's batches. */
export type BatchCounts = Readonly<Record<BatchBackend, number>>;

/**
 * The Distributed Map's MaxConcurrency: as many batches at once as the backends can serve, each batch
 * keeping BATCH_REQUESTS_IN_FLIGHT requests in flight. More would only queue requests inside the servers.
 */
export function mapConcurrency(batches: readonly Batch[] | BatchCounts, capacity: BackendCapacity): number {
  const counts = Array.isArray(batches) ? countBatches(batches as readonly Batch[]) : (batches as BatchCounts);
  const share = (requests: number) => Math.max(1, Math.ceil(requests / BATCH_REQUESTS_IN_FLIGHT));
  const total = (counts.sglang > 0 ? share(capacity.sglangRequests) : 0) + (counts.bedrock > 0 ? share(capacity.bedrockRequests) : 0);
  return Math.max(1, Math.min(total, counts.sglang + counts.bedrock));
}

function countBatches(batches: readonly Batch[]): BatchCounts {
  const counts = { sglang: 0, bedrock: 0 };
  for (const batch of batches) counts[batch.backend]++;
  return counts;
}

/** One line of a manifest: the Distributed Map's ItemReader reads the file as JSONL, one item a line. */
export function manifestLine(item: ManifestItem): string {
  return JSON.stringify(item);
}
