/**
 * A strategy is one unit: it decides which backend and phase each profile gets, which backends each step
 * needs, how a phase's slots are generated, what happens after generation, and its section of the report.
 * The CLI, Plan, GenerateBatch and Finalize ask it; nothing outside this folder branches on its name.
 */
import type { BatchBackend } from '../../contract/workflow-payloads.ts';
import type { EstimateShape } from '../report/cost-estimate.ts';
import type { GenerationCounters, GenerationOptions, GenerationOutcome } from '../run/generation-run.ts';
import type { LlmBackend } from '../ports/llm-backend.ts';
import type { QualityGate } from '../review/quality-gates.ts';
import type { RunSpec } from '../run/run-spec.ts';
import type { EvaluationRecord, EvaluationSummary } from '../review/sample-evaluation.ts';
import type { Sample } from '../verify/sample.ts';
import type { StrategyName } from './names.ts';

export type { StrategyName };

/** The roles a strategy asks backends for. The judge is a Bedrock model. */
export type BackendRole = BatchBackend | 'judge';

/**
 * Phases run in order: every `seed` slot is done before any `main` slot starts (iterative: Bedrock seeds,
 * then SGLang expands them). The workflow runs each phase as its own Distributed Map.
 */
export const PHASES = ['seed', 'main'] as const;
export type Phase = (typeof PHASES)[number];

/** Which backend writes each profile, and in which phase: plain data, stored in the run's plan. */
export interface Assignment {
  readonly backend: BatchBackend;
  /** Profiles written on the other backend (tiered's validation profiles, iterative's seed profiles). */
  readonly otherBackend: readonly string[];
  /** Profiles written in the seed phase. */
  readonly seed: readonly string[];
}

/**
 * The lists of an assignment as sets, made once per list: asked once per profile, a search of a
 * 300,000-profile list made a tiered plan quadratic.
 */
const listSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function setOf(list: readonly string[]): ReadonlySet<string> {
  let set = listSets.get(list);
  if (set === undefined) {
    set = new Set(list);
    listSets.set(list, set);
  }
  return set;
}

export function backendOfProfile(assignment: Assignment, profileId: string): BatchBackend {
  if (!setOf(assignment.otherBackend).has(profileId)) return assignment.backend;
  return assignment.backend === 'sglang' ? 'bedrock' : 'sglang';
}

export function phaseOfProfile(assignment: Assignment, profileId: string): Phase {
  return setOf(assignment.seed).has(profileId) ? 'seed' : 'main';
}

/** The backends an assignment writes with. */
export function assignedBackends(assignment: Assignment, profileIds: readonly string[]): Set<BatchBackend> {
  return new Set(profileIds.map((id) => backendOfProfile(assignment, id)));
}

/** What a strategy's plan needs to know about the run. */
export interface AssignInput {
  readonly profileIds: readonly string[];
  readonly spec: RunSpec;
  /** The profiles of validation.json (the run's split). */
  readonly validationProfiles: ReadonlySet<string>;
}

/** Everything runGeneration needs except the backend and the strategy name, which the strategy decides. */
export type GenerationBase = Omit<GenerationOptions, 'backend' | 'strategy'>;

export interface PhaseContext {
  readonly phase: Phase;
  /** The slots of this phase to fill (all of them locally, one batch's in the workflow), and the run's settings. */
  readonly generation: GenerationBase;
  readonly counters: GenerationCounters;
  readonly spec: RunSpec;
  readonly assignment: Assignment;
  /** The connected backend of a role; throws when the front door did not connect it. */
  backend(role: BackendRole): LlmBackend;
  /** Quality gates every kept sample must pass, whatever the strategy. */
  readonly gates: readonly QualityGate[];
  /** Accepted samples of the seed phase (or seeds from an earlier run), for few-shot examples. */
  seeds(): Promise<readonly Sample[]>;
}

export interface Evaluation {
  readonly summary: EvaluationSummary;
  readonly records: readonly EvaluationRecord[];
}

export interface FinishContext {
  readonly spec: RunSpec;
  readonly counters: GenerationCounters;
  backend(role: BackendRole): LlmBackend;
  /** Every accepted sample of the run. */
  readSamples(): AsyncIterable<Sample>;
  /** Judge requests in flight. */
  readonly concurrency: number;
}

export interface Strategy {
  readonly name: StrategyName;
  readonly description: string;
  /** When the Bedrock judge is needed: while generating (filter), after it (iterative), or never. */
  readonly judge: 'generation' | 'finish' | 'never';
  /** Backend and phase per profile. */
  assign(input: AssignInput): Assignment;
  /** Fills the slots of one phase. */
  runPhase(context: PhaseContext): Promise<GenerationOutcome>;
  /** After every phase: iterative evaluates a sample of its output. */
  finish?(context: FinishContext): Promise<Evaluation | undefined>;
  /** How the strategy multiplies a slot's work, for the estimate; one call per slot when absent. */
  estimateShape?(spec: RunSpec): EstimateShape;
  /** The strategy's settings for report.json. */
  reportSection(spec: RunSpec, assignment: Assignment): Record<string, unknown>;
}

/** Profiles assigned as a plain single-backend run. */
export function singleBackendAssignment(backend: BatchBackend): Assignment {
  return { backend, otherBackend: [], seed: [] };
}
