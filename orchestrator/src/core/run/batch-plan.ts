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
  const budget = BATCH_TIME_BUDGET_SECONDS * BATCH_REQUESTS_IN_FLIGHT;
  const maxSlots = options.maxSlots ?? MAX_SLOTS_PER_BATCH;
  const batches: Batch[] = [];
  type OpenBatch = { backend: BatchBackend; phase: Phase; profileIds: string[]; slots: Slot[]; seconds: number };
  const open = new Map<string, OpenBatch>();
  const close = (key: string) => {
    const batch = open.get(key);
    if (batch === undefined || batch.slots.length === 0) return;
    batches.push({
      id: batchId(batches.length),
      backend: batch.backend,
      phase: batch.phase,
      profileIds: batch.profileIds,
      slots: batch.slots,
    });
    open.delete(key);
  };
  for (const group of profileGroups(slots)) {
    const profileId = group[0]?.profileId ?? '';
    const backend = options.backendOf(profileId);
    const phase = options.phaseOf?.(profileId) ?? 'main';
    const key = `${backend}/${phase}`;
    const seconds = group.reduce((sum, slot) => sum + slotSeconds(slot.kind), 0);
    const current = open.get(key);
    if (current !== undefined && (current.slots.length + group.length > maxSlots || current.seconds + seconds > budget)) close(key);
    // A profile too large for one batch gets batches of its own, cut in plan order.
    let rest = group;
    while (rest.length > 0) {
      const batch = open.get(key) ?? { backend, phase, profileIds: [], slots: [], seconds: 0 };
      open.set(key, batch);
      let taken = 0;
      while (taken < rest.length && batch.slots.length < maxSlots) {
        const slot = rest[taken] as Slot;
        if (batch.slots.length > 0 && batch.seconds + slotSeconds(slot.kind) > budget) break;
        batch.slots.push(slot);
        batch.seconds += slotSeconds(slot.kind);
        taken++;
      }
      if (!batch.profileIds.includes(group[0]?.profileId ?? '')) batch.profileIds.push(group[0]?.profileId ?? '');
      rest = rest.slice(taken);
      if (rest.length > 0) close(key);
    }
  }
  for (const key of [...open.keys()]) close(key);
  return batches;
}

/** The id of the batch at `index` in plan order. */
export function batchId(index: number): string {
  return `b${String(index).padStart(5, '0')}`;
}

function profileGroups(slots: readonly Slot[]): Slot[][] {
  const groups: Slot[][] = [];
  for (const slot of slots) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[0]?.profileId === slot.profileId) last.push(slot);
    else groups.push([slot]);
  }
  return groups;
}

/** Requests each backend can serve at once: the SGLang fleet's, and Bedrock's quota share for this run. */
export interface BackendCapacity {
  readonly sglangRequests: number;
  readonly bedrockRequests: number;
}

/**
 * The Distributed Map's MaxConcurrency: as many batches at once as the backends can serve, each batch
 * keeping BATCH_REQUESTS_IN_FLIGHT requests in flight. More would only queue requests inside the servers.
 */
export function mapConcurrency(batches: readonly Batch[], capacity: BackendCapacity): number {
  const uses = (backend: BatchBackend) => batches.some((batch) => batch.backend === backend);
  const share = (requests: number) => Math.max(1, Math.ceil(requests / BATCH_REQUESTS_IN_FLIGHT));
  const total = (uses('sglang') ? share(capacity.sglangRequests) : 0) + (uses('bedrock') ? share(capacity.bedrockRequests) : 0);
  return Math.max(1, Math.min(total, batches.length));
}

export function manifestLines(items: readonly ManifestItem[]): string[] {
  return items.map((item) => JSON.stringify(item));
}
