/**
 * The middle of a local run as `raiden generate` does it, between connecting the backends and writing
 * report.html: resume from the samples already stored, every phase of the strategy with the command's
 * workers and stop rule, then the dataset, the strategy's finishing step and report.json at the built-in
 * prices and one GPU instance. The test harnesses and the bench's child processes share it, so the
 * pipeline's argument lists live in one place.
 */
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import type { RunStore } from '../../orchestrator/src/core/ports/run-store.ts';
import type { PreparedRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import type { GenerationCounters } from '../../orchestrator/src/core/run/generation-run.ts';
import type { RunBackends } from '../../orchestrator/src/core/run/run-backends.ts';
import {
  existingSamples,
  finishRun,
  generateAllPhases,
  localGenerationSettings,
  resumeCounters,
  stoppedReasonOf,
  type FinishedRun,
  type LocalGenerationOutcome,
} from '../../orchestrator/src/core/run/run-pipeline.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';

export interface LocalRunInput {
  readonly prepared: PreparedRun;
  readonly store: RunStore;
  readonly backends: RunBackends;
  /** Requests in flight (raiden generate's --concurrency): the generation's workers and the finishing step's requests. */
  readonly concurrency: number;
  readonly now?: () => Date;
  /** iterative: seeds from an earlier run. */
  readonly seedData?: readonly Sample[] | undefined;
  /** Stop taking slots once this invocation accepted this many, as a stop signal does. */
  readonly stopAfter?: number | undefined;
}

export interface GeneratedRun {
  readonly counters: GenerationCounters;
  readonly outcome: LocalGenerationOutcome;
  /** Why the generation ended early, as report.json says it; undefined when it ran through. */
  readonly stoppedReason: string | undefined;
}

/** Every phase, resumed from the store; nothing finished, as a killed process leaves the run. */
export async function generateLocally(input: LocalRunInput): Promise<GeneratedRun> {
  const { prepared, store, backends, stopAfter } = input;
  const existing = await existingSamples(store);
  const counters = resumeCounters(prepared, existing);
  const settings = localGenerationSettings(input.concurrency, {
    now: input.now,
    shouldStop: stopAfter !== undefined ? () => counters.accepted >= stopAfter : undefined,
  });
  const outcome = await generateAllPhases({ prepared, store, backends, counters, existing, seedData: input.seedData, settings });
  return { counters, outcome, stoppedReason: stoppedReasonOf(outcome, settings) };
}

/** Every phase, then the dataset, the strategy's finishing step and report.json. */
export async function generateAndFinish(input: LocalRunInput): Promise<GeneratedRun & FinishedRun> {
  const generated = await generateLocally(input);
  const finished = await finishRun({
    plan: input.prepared.plan,
    store: input.store,
    counters: generated.counters,
    emptySlots: generated.outcome.emptySlots,
    prices: DEFAULT_PRICES,
    sglangInstances: 1,
    backends: input.backends,
    concurrency: input.concurrency,
    stoppedReason: generated.stoppedReason,
    ...(input.now !== undefined ? { now: input.now } : {}),
  });
  return { ...generated, ...finished };
}
