/**
 * The run after planning: generation phase by phase, then the dataset, the strategy's finishing step and
 * report.json. The CLI runs all of it; the workflow runs one batch of one phase per GenerateBatch and the
 * finishing part in Finalize. Either way the same functions produce the same files.
 */
import { RUN_FILES } from '../../contract/run-layout.ts';
import { profileIdOf } from './dataset-split.ts';
import { finalizeRun, type DatasetSummary } from './finalize-run.ts';
import {
  type EmptySlot,
  type ExistingSample,
  type GenerationCounters,
  type SlotStream,
  WORKERS_PER_IN_FLIGHT_REQUEST,
} from './generation-run.ts';

export { resumeCounters } from './generation-run.ts';
import type { Prices } from '../report/model-prices.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { PreparedRun, RunPlan } from './prepare-run.ts';
import { composeReport, type ComposedReport } from '../report/compose-report.ts';
import { buildUsageLedger, type CacheLedger } from '../report/run-cost.ts';
import { runHistory, streamRunEvents } from '../report/run-events.ts';
import type { RunBackends } from './run-backends.ts';
import type { Sample } from '../verify/sample.ts';
import { strategyByName } from '../strategies/registry.ts';
import { phaseOfProfile, PHASES, type Assignment, type Evaluation, type GenerationBase, type Phase } from '../strategies/strategy.ts';

/** What a front door's generation settings add to the plan: workers, stop signal, clock, prompt override. */
export type GenerationSettings = Pick<GenerationBase, 'concurrency' | 'shouldStop' | 'now'>;

export interface LocalGenerationInput {
  readonly prepared: PreparedRun;
  readonly store: RunStore;
  readonly backends: RunBackends;
  readonly counters: GenerationCounters;
  readonly existing: readonly ExistingSample[];
  readonly settings: GenerationSettings;
  /** iterative: seeds from an earlier run instead of this run's seed phase. */
  readonly seedData?: readonly Sample[] | undefined;
  /**
   * Write the plan to plan.json, where `raiden reverify` finds the run's settings; a fill of a workflow
   * run keeps the workflow's own plan.json.
   * @default true
   */
  readonly recordPlan?: boolean;
}

export interface LocalGenerationOutcome {
  readonly emptySlots: EmptySlot[];
  readonly newSamples: number;
  readonly fatalError?: string;
}

/**
 * The generation settings of a run on this machine, raiden generate's and the harnesses' alike: workers
 * for `inFlight` requests in flight (WORKERS_PER_IN_FLIGHT_REQUEST each), the clock and the stop signal.
 */
export function localGenerationSettings(
  inFlight: number,
  options: { readonly now?: (() => Date) | undefined; readonly shouldStop?: (() => boolean) | undefined },
): GenerationSettings {
  return {
    concurrency: inFlight * WORKERS_PER_IN_FLIGHT_REQUEST,
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.shouldStop !== undefined ? { shouldStop: options.shouldStop } : {}),
  };
}

/** Why a local run ended before its end: the backend's fatal error, else the stop it was asked for; undefined when it ran through. */
export function stoppedReasonOf(outcome: LocalGenerationOutcome, settings: GenerationSettings): string | undefined {
  return outcome.fatalError ?? (settings.shouldStop?.() === true ? 'interrupted' : undefined);
}

/** Every phase of the strategy in order over every slot of the plan, on this machine. */
export async function generateAllPhases(input: LocalGenerationInput): Promise<LocalGenerationOutcome> {
  const { prepared, store, backends, counters } = input;
  const { plan, strategy } = prepared;
  if (input.recordPlan !== false) await store.writeJson(RUN_FILES.plan, withoutCredentials(plan));
  const attemptsBefore = await attemptsMade(store);
  const emptySlots: EmptySlot[] = [];
  let newSamples = 0;
  for (const phase of PHASES) {
    if (!plan.profileIds.some((profileId) => phaseOfProfile(plan.assignment, profileId) === phase)) continue;
    const outcome = await strategy.runPhase({
      phase,
      generation: {
        ...input.settings,
        slots: phaseSlots(prepared, plan.assignment, phase),
        store,
        existing: input.existing,
        maxAttempts: plan.spec.maxAttempts,
        maxTokens: plan.spec.maxTokens,
        temperature: plan.spec.temperature,
        attemptsBefore,
      },
      counters,
      spec: plan.spec,
      assignment: plan.assignment,
      backend: (role) => backends.backend(role),
      gates: backends.gates,
      seeds: async () => input.seedData ?? (await seedSamples(store, plan)),
    });
    emptySlots.push(...outcome.emptySlots);
    newSamples += outcome.newSamples;
    if (outcome.fatalError !== undefined) return { emptySlots, newSamples, fatalError: outcome.fatalError };
    if (input.settings.shouldStop?.()) break;
  }
  return { emptySlots, newSamples };
}

/** The slots of a phase, streamed from the plan's: a phase takes whole profiles, so they stay grouped by profile. */
function phaseSlots(slots: SlotStream, assignment: Assignment, phase: Phase): SlotStream {
  const inPhase = (profileId: string) => phaseOfProfile(assignment, profileId) === phase;
  return {
    *slotIds() {
      for (const id of slots.slotIds()) if (inPhase(profileIdOf(id))) yield id;
    },
    *plannedSlots() {
      for (const planned of slots.plannedSlots()) if (inPhase(planned.profile.id)) yield planned;
    },
  };
}

/** The highest attempt each slot's rejects record: where a resumed slot goes on numbering. */
export async function attemptsMade(store: Pick<RunStore, 'readRejects'>): Promise<Map<string, number>> {
  const made = new Map<string, number>();
  for await (const reject of store.readRejects()) made.set(reject.slot_id, Math.max(made.get(reject.slot_id) ?? 0, reject.attempt));
  return made;
}

/** The plan with user:password@ taken out of every server URL: plan.json is a file anyone with the run may read. */
function withoutCredentials(plan: RunPlan): RunPlan {
  const bare = (url: string) => url.replace(/^(https?:\/\/)[^/@\s]*@/u, '$1');
  const modelSpec = (text: string) => text.replace(/@(https?:\/\/)[^/@\s]*@/u, '@$1');
  const { spec } = plan;
  return {
    ...plan,
    spec: {
      ...spec,
      endpoints: spec.endpoints.map(bare),
      keywordAgreementModels: spec.keywordAgreementModels.map(modelSpec),
      ...(spec.difficultyStudentModel !== undefined ? { difficultyStudentModel: modelSpec(spec.difficultyStudentModel) } : {}),
    },
  };
}

/** Few-shot seeds need only a handful of examples per kind and language: read no more than this. */
export const SEEDS_READ = 64;

async function seedSamples(store: RunStore, plan: RunPlan): Promise<Sample[]> {
  const seeds: Sample[] = [];
  for await (const sample of store.readSamples()) {
    if (phaseOfProfile(plan.assignment, profileIdOf(sample.id)) !== 'seed') continue;
    seeds.push(sample);
    if (seeds.length >= SEEDS_READ) break;
  }
  return seeds;
}

/** Samples already accepted in the store: their slots are skipped, their questions count for duplicates. */
export async function existingSamples(store: RunStore): Promise<ExistingSample[]> {
  const existing: ExistingSample[] = [];
  for await (const sample of store.readSamples()) existing.push({ id: sample.id, question: sample.question });
  return existing;
}

export interface FinishInput {
  readonly plan: RunPlan;
  readonly store: RunStore;
  readonly counters: GenerationCounters;
  readonly emptySlots: readonly EmptySlot[];
  readonly prices: Prices;
  readonly sglangInstances: number;
  /** The judge, when the strategy evaluates after generation; the evaluation is skipped without it. */
  readonly backends?: RunBackends | undefined;
  readonly concurrency: number;
  readonly stoppedReason?: string | undefined;
  readonly now?: () => Date;
  /** Sections a front door adds to report.json (the workflow's batches, Bedrock batch jobs). */
  readonly extraSections?: Record<string, unknown>;
}

export interface FinishedRun {
  readonly report: ComposedReport;
  readonly dataset: DatasetSummary;
}

/** train.json, validation.json, dataset_stats.json, the strategy's evaluation and report.json. */
export async function finishRun(input: FinishInput): Promise<FinishedRun> {
  const { plan, store } = input;
  const dataset = await finalizeRun(store, { profileIds: plan.profileIds, validationRatio: plan.validationRatio, seed: plan.spec.seed });
  const strategy = strategyByName(plan.spec.strategy);
  let evaluation: Evaluation | undefined;
  if (strategy.finish !== undefined && input.backends !== undefined && input.stoppedReason === undefined) {
    const backends = input.backends;
    evaluation = await strategy.finish({
      spec: plan.spec,
      counters: input.counters,
      backend: (role) => backends.backend(role),
      readSamples: () => store.readSamples(),
      concurrency: input.concurrency,
    });
    if (evaluation !== undefined)
      await store.writeLines(
        RUN_FILES.evaluation,
        evaluation.records.map((record) => JSON.stringify(record)),
      );
  }
  const cached: CacheLedger = {};
  const ledger = await buildUsageLedger(store.readSamples(), store.readRejects(), evaluation?.records, cached);
  const finishedAt = (input.now ?? (() => new Date()))();
  const history = await runHistory(streamRunEvents(store), { startedAt: new Date(plan.startedAt), finishedAt });
  // Reads and writes of the response cache that failed: answers asked of the model again, or not stored for the next run.
  const cacheErrors = input.backends?.cacheStats()?.errors;
  const composed = composeReport({
    plan,
    finishedAt,
    history,
    counters: input.counters,
    emptySlots: input.emptySlots,
    dataset,
    ledger,
    cached,
    prices: input.prices,
    sglangInstances: input.sglangInstances,
    evaluation,
    stoppedReason: input.stoppedReason,
  });
  const report = {
    ...composed,
    ...(cacheErrors !== undefined ? { cache: { ...composed.cache, errors: cacheErrors } } : {}),
    ...input.extraSections,
  };
  await store.writeJson(RUN_FILES.report, report);
  return { report, dataset };
}
