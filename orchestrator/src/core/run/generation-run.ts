import {
  BackendUnavailableError,
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../ports/llm-backend.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { Candidate, CandidateDecision, CandidateReview } from '../review/candidate-review.ts';
import { profileIdOf } from './dataset-split.ts';
import { verifySample, type Verdict, type VerifiedContent } from '../verify/keyword-verifier.ts';
import { parseModelJson } from '../verify/model-output.ts';
import { describeFocus, type PlannedSlot, type Slot } from '../profiles/plan.ts';
import type { Profile } from '../profiles/profile.ts';
import { buildMessages, type ChatMessage } from '../prompts/prompts.ts';
import { storedUsage } from '../review/review-call.ts';
import { responseSchema } from '../prompts/sample-schema.ts';
import { difficultyOfPassRate } from '../review/quality-gates.ts';
import type { RejectRecord, ReviewCall, Sample } from '../verify/sample.ts';
import { questionFingerprint } from '../verify/text-normalize.ts';

/**
 * Workers per request allowed in flight: while some verify, write or back off, the others already wait at
 * the in-flight limit with their next request, so no server slot idles between requests.
 */
export const WORKERS_PER_IN_FLIGHT_REQUEST = 2;

/** What a resumed run needs of an accepted sample; the rest stays on disk. */
export type ExistingSample = Pick<Sample, 'id' | 'question'>;

/**
 * Slots streamed in plan order, grouped by profile, instead of held (a local run's): a run of a million
 * slots holds only the slots in flight and their profiles.
 */
export interface SlotStream {
  /** Every slot id in plan order, made without reading a profile. */
  slotIds(): Iterable<string>;
  /** Every slot in plan order with its profile, read as it is reached. */
  plannedSlots(): Iterable<PlannedSlot>;
}

export interface GenerationOptions {
  /** The profiles of `slots` by id when `slots` is a list; a stream brings each slot's profile. */
  readonly profiles?: ReadonlyMap<string, Profile>;
  /** The slots to fill: a list (a workflow batch, in any order) or a stream in plan order (a local run). */
  readonly slots: readonly Slot[] | SlotStream;
  /** The backend of every slot, unless backendFor picks one per slot. */
  readonly backend?: LlmBackend;
  readonly store: RunStore;
  /** Samples already accepted in this run directory: their slots are skipped, their questions count for duplicates. */
  readonly existing: readonly ExistingSample[];
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly strategy: string;
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly now?: () => Date;
  /** Checked before each new slot: true stops taking work (in-flight slots still finish). */
  readonly shouldStop?: () => boolean;
  /** The backend for a slot (tiered strategy), over `backend`. */
  readonly backendFor?: (slot: Slot) => LlmBackend;
  /** The prompt for a slot (few-shot seeds of the iterative strategy); buildMessages when absent. */
  readonly messagesFor?: (profile: Profile, slot: Slot) => ChatMessage[];
  /** Model calls per attempt (filter strategy): every verified one is a candidate for `review`. */
  readonly candidates?: number;
  /** Judge and quality gates: picks the candidate to keep. Without it the first verified output is kept. */
  readonly review?: CandidateReview;
  /** Added to every sample's metadata (e.g. the tier of the tiered strategy). */
  readonly metadataFor?: (slot: Slot) => Readonly<Record<string, unknown>>;
  /**
   * Attempts each slot already made in this run (its rejects' highest attempt): a resumed slot goes on
   * numbering from there, so the response cache gives it new answers instead of the ones it rejected.
   */
  readonly attemptsBefore?: ReadonlyMap<string, number>;
}

/** Live counters, read by the progress display while the run goes on. */
export interface GenerationCounters {
  totalSlots: number;
  alreadyDone: number;
  accepted: number;
  rejected: number;
  emptySlots: number;
  requests: number;
  transportFailures: number;
  inputTokens: number;
  outputTokens: number;
  /** Answers given by the response cache instead of a backend; in neither requests nor tokens. */
  cacheHits: number;
  rejectsByReason: Record<string, number>;
}

export interface EmptySlot {
  readonly slot_id: string;
  readonly attempts: number;
  readonly last_reason: string;
}

export interface GenerationOutcome {
  readonly counters: GenerationCounters;
  readonly emptySlots: EmptySlot[];
  readonly newSamples: number;
  /** Set when the run stopped early because the backend cannot be used at all. */
  readonly fatalError?: string;
}

export function newCounters(totalSlots: number, alreadyDone: number): GenerationCounters {
  return {
    totalSlots,
    alreadyDone,
    accepted: 0,
    rejected: 0,
    emptySlots: 0,
    requests: 0,
    transportFailures: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheHits: 0,
    rejectsByReason: {},
  };
}

/** The slots runGeneration still has to fill: those without an accepted sample. */
function openSlots(slots: readonly Slot[], existing: readonly ExistingSample[]): Slot[] {
  const done = doneIds(existing);
  return slots.filter((slot) => !done.has(slot.id));
}

function doneIds(existing: readonly ExistingSample[]): Set<string> {
  return new Set(existing.map((sample) => sample.id));
}

/** How many slots `slots` has, and how many of them `existing` already filled; a stream is counted by its ids alone. */
export function slotTally(slots: GenerationOptions['slots'], existing: readonly ExistingSample[]): { total: number; done: number } {
  const done = doneIds(existing);
  let total = 0;
  let filled = 0;
  for (const id of isStream(slots) ? slots.slotIds() : slots.map((slot) => slot.id)) {
    total++;
    if (done.has(id)) filled++;
  }
  return { total, done: filled };
}

function isStream(slots: GenerationOptions['slots']): slots is SlotStream {
  return 'plannedSlots' in slots;
}

/** An open slot as a worker takes it: `last` when no later open slot of its profile follows in this generation. */
interface OpenSlot extends PlannedSlot {
  readonly last: boolean;
}

/**
 * The open slots in order with their profiles, made as the workers take them. A stream is grouped by
 * profile, so a slot is its profile's last when the next open slot is another profile's; a list may be in
 * any order (the prefix-reuse bench shuffles it), so its open slots are counted per profile first.
 */
function* openWork(options: Pick<GenerationOptions, 'slots' | 'profiles'>, done: ReadonlySet<string>): Generator<OpenSlot> {
  const { slots } = options;
  if (isStream(slots)) {
    let held: PlannedSlot | undefined;
    for (const planned of slots.plannedSlots()) {
      if (done.has(planned.slot.id)) continue;
      if (held !== undefined) yield { ...held, last: held.profile.id !== planned.profile.id };
      held = planned;
    }
    if (held !== undefined) yield { ...held, last: true };
    return;
  }
  const open = slots.filter((slot) => !done.has(slot.id));
  const remaining = new Map<string, number>();
  for (const slot of open) remaining.set(slot.profileId, (remaining.get(slot.profileId) ?? 0) + 1);
  for (const slot of open) {
    const profile = options.profiles?.get(slot.profileId);
    if (profile === undefined) throw new Error(`slot ${slot.id} refers to unknown profile ${slot.profileId}`);
    const left = (remaining.get(slot.profileId) ?? 1) - 1;
    remaining.set(slot.profileId, left);
    yield { profile, slot, last: left === 0 };
  }
}

/** The model request runGeneration sends for a slot (batch inference builds the same, so the answers match). */
export function slotRequest(
  profile: Profile,
  slot: Slot,
  options: Pick<GenerationOptions, 'messagesFor' | 'maxTokens' | 'temperature'>,
): GenerateRequest {
  return {
    messages: options.messagesFor?.(profile, slot) ?? buildMessages(profile, slot),
    schema: responseSchema(slot.kind, slot.focus.questionType),
    maxTokens: options.maxTokens ?? 2048,
    temperature: options.temperature ?? 0.8,
  };
}

/**
 * The request of every slot still without a sample, built as runGeneration will build it: what batch
 * inference sends ahead (locally and in the workflow), so its answers match the slots they are for.
 */
export function openSlotRequests(
  slots: readonly Slot[],
  profiles: ReadonlyMap<string, Profile>,
  existing: readonly ExistingSample[],
  options: Pick<GenerationOptions, 'maxTokens' | 'temperature'>,
): { readonly slot: Slot; readonly request: GenerateRequest }[] {
  return openSlots(slots, existing).flatMap((slot) => {
    const profile = profiles.get(slot.profileId);
    return profile === undefined ? [] : [{ slot, request: slotRequest(profile, slot, options) }];
  });
}

/**
 * Fills every open slot: `concurrency` workers each take the next slot in plan order (profile-grouped)
 * and keep calling the model until a sample passes verification or `maxAttempts` is spent. No batch
 * barriers: a slow request only ever holds its own worker.
 */
export async function runGeneration(options: GenerationOptions, counters?: GenerationCounters): Promise<GenerationOutcome> {
  const live = counters ?? resumeCounters(options.slots, options.existing);
  const questions = new ProfileQuestions(options.existing);
  const work = openWork(options, doneIds(options.existing));

  const emptySlots: EmptySlot[] = [];
  let newSamples = 0;
  let fatalError: string | undefined;
  const now = options.now ?? (() => new Date());

  const record = async (
    slot: Slot,
    backend: string,
    attempt: number,
    reason: string,
    detail: string,
    output: Pick<GenerateResult, 'text' | 'model' | 'usage' | 'cache'> | undefined,
    decision?: CandidateDecision,
  ) => {
    live.rejected++;
    live.rejectsByReason[reason] = (live.rejectsByReason[reason] ?? 0) + 1;
    const reject: RejectRecord = {
      slot_id: slot.id,
      attempt,
      reason,
      detail,
      // Whole, always: the run must not depend on the response cache, which may be deleted or may have failed to store it.
      raw_output: output?.text ?? '',
      backend,
      model: output?.model ?? '',
      usage: storedUsage(output?.usage ?? { inputTokens: 0, outputTokens: 0 }),
      ...(output?.cache?.hit ? { cached: true as const } : {}),
      rejected_at: now().toISOString(),
      ...(decision !== undefined && Object.keys(decision.review).length > 0 ? { review: decision.review } : {}),
      ...(decision !== undefined && decision.calls.length > 0 ? { review_calls: decision.calls } : {}),
    };
    await options.store.appendReject(reject);
  };

  const countCalls = (calls: readonly ReviewCall[]) => {
    for (const call of calls) {
      if (call.cached) {
        live.cacheHits++;
        continue;
      }
      live.requests++;
      live.inputTokens += call.usage.input_tokens;
      live.outputTokens += call.usage.output_tokens;
    }
  };

  const fillSlot = async ({ profile, slot }: PlannedSlot): Promise<void> => {
    const backend = options.backendFor?.(slot) ?? options.backend;
    if (backend === undefined) throw new Error(`no backend for slot ${slot.id}: give runGeneration a backend or backendFor`);
    const request = slotRequest(profile, slot, options);
    const accepted = questions.of(profile.id);
    const before = options.attemptsBefore?.get(slot.id) ?? 0;
    let lastReason = '';
    for (let attempt = before + 1; attempt <= before + options.maxAttempts; attempt++) {
      if (fatalError !== undefined) return;
      const calls = await Promise.allSettled(
        Array.from({ length: options.candidates ?? 1 }, (_, candidate) => backend.generate({ ...request, draw: { attempt, candidate } })),
      );
      const candidates: Candidate[] = [];
      for (const call of calls) {
        if (call.status === 'rejected') {
          const error: unknown = call.reason;
          if (error instanceof BackendUnavailableError) {
            fatalError ??= error.message;
            continue;
          }
          if (!(error instanceof TransportError)) throw error;
          live.requests += error.requests;
          live.transportFailures += error.requests;
          lastReason = 'transport_error';
          await record(slot, backend.name, attempt, lastReason, error.message, undefined);
          continue;
        }
        const result = call.value;
        if (result.cache?.hit) live.cacheHits++;
        else {
          live.requests += result.requests;
          live.transportFailures += result.requests - 1;
          live.inputTokens += result.usage.inputTokens;
          live.outputTokens += result.usage.outputTokens;
        }
        const verdict = verifyOutput(result.text, profile, slot, accepted);
        if (!verdict.ok) {
          lastReason = verdict.reason;
          await record(slot, result.backend ?? backend.name, attempt, verdict.reason, verdict.detail, result);
          continue;
        }
        candidates.push({ content: verdict.content, result });
      }
      // A sample already generated is kept even when the backend failed meanwhile: it cost a call.
      if (candidates.length === 0) {
        if (fatalError !== undefined) return;
        continue;
      }

      let keep = 0;
      let decisions: readonly CandidateDecision[] = [];
      if (options.review !== undefined) {
        let outcome;
        try {
          outcome = await options.review({ slot, profile, candidates });
        } catch (error) {
          if (!(error instanceof BackendUnavailableError)) throw error;
          fatalError ??= error.message;
          return;
        }
        decisions = outcome.decisions;
        for (const decision of decisions) countCalls(decision.calls);
        for (const [index, candidate] of candidates.entries()) {
          const decision = decisions[index];
          if (index === outcome.keep || decision === undefined) continue;
          lastReason = decision.reason ?? 'not_kept';
          await record(
            slot,
            candidate.result.backend ?? backend.name,
            attempt,
            lastReason,
            decision.detail ?? '',
            candidate.result,
            decision,
          );
        }
        if (outcome.keep === undefined) continue;
        keep = outcome.keep;
      }
      const chosen = candidates[keep] as Candidate;
      const fingerprint = questionFingerprint(chosen.content.question);
      // A review awaits other models, so a concurrent slot of this profile may have taken the question meanwhile.
      if (accepted.has(fingerprint)) {
        lastReason = 'duplicate_question';
        await record(
          slot,
          chosen.result.backend ?? backend.name,
          attempt,
          lastReason,
          `question duplicates one accepted meanwhile: ${JSON.stringify(chosen.content.question)}`,
          chosen.result,
        );
        continue;
      }
      // Claim the question before the write, so a concurrent slot of this profile sees it as taken.
      accepted.add(fingerprint);
      const decision = decisions[keep];
      const extra = {
        ...options.metadataFor?.(slot),
        ...decision?.review,
        ...(decision !== undefined && decision.calls.length > 0 ? { review_calls: decision.calls } : {}),
      };
      await options.store.appendSample(
        toSample(
          slot,
          profile,
          chosen.content,
          {
            ...chosen.result,
            cached: chosen.result.cache?.hit === true,
            attempt,
            strategy: options.strategy,
            backend: chosen.result.backend ?? backend.name,
            at: now(),
          },
          extra,
        ),
      );
      live.accepted++;
      newSamples++;
      return;
    }
    if (fatalError !== undefined) return;
    live.emptySlots++;
    emptySlots.push({ slot_id: slot.id, attempts: before + options.maxAttempts, last_reason: lastReason });
  };

  const worker = async (): Promise<void> => {
    while (fatalError === undefined && !options.shouldStop?.()) {
      const next = work.next();
      if (next.done === true) return;
      const open = next.value;
      questions.take(open.profile.id, open.last);
      try {
        await fillSlot(open);
      } finally {
        questions.release(open.profile.id);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  } finally {
    // A run that stops early closes the stream, and with it the input file it reads.
    work.return(undefined);
  }
  return { counters: live, emptySlots, newSamples, ...(fatalError !== undefined ? { fatalError } : {}) };
}

type Usage = GenerateResult['usage'];

/** A model's raw output judged by the current rules for a slot: parsed, then verified against the profile and the questions already accepted. */
export function verifyOutput(raw: string, profile: Profile, slot: Slot, acceptedQuestions: ReadonlySet<string>): Verdict {
  const parsed = parseModelJson(raw);
  if (!parsed.ok) return { ok: false, reason: 'invalid_json', detail: parsed.error };
  return verifySample(parsed.value, {
    kind: slot.kind,
    profileText: profile.text,
    names: [profile.name, ...profile.aliases],
    fieldLabels: Object.keys(profile.fields),
    questionType: slot.focus.questionType,
    acceptedQuestions,
    language: slot.language,
    focusFieldText: slot.kind === 'SBK' && slot.focus.field !== undefined ? profile.fields[slot.focus.field] : undefined,
  });
}

/** The counters of a generation over `slots` that resumes from `existing`: their slots count as already done. */
export function resumeCounters(slots: GenerationOptions['slots'], existing: readonly ExistingSample[]): GenerationCounters {
  const { total, done } = slotTally(slots, existing);
  return newCounters(total, done);
}

/**
 * The questions accepted per profile, for the duplicate check, held while a profile has slots to fill: a
 * profile's set is made when its first slot is taken (from the questions of the samples a resumed run
 * already has) and goes once its last open slot is taken and no slot of it is in flight, so a run holds
 * the sets of the profiles in flight, not of every profile.
 */
class ProfileQuestions {
  private readonly sets = new Map<string, { readonly questions: Set<string>; inFlight: number; lastTaken: boolean }>();
  /** The questions of the samples already accepted, by profile, until the profile's set is made. */
  private readonly existing = new Map<string, string[]>();

  constructor(existing: readonly ExistingSample[]) {
    for (const sample of existing) {
      const profileId = profileIdOf(sample.id);
      let questions = this.existing.get(profileId);
      if (questions === undefined) this.existing.set(profileId, (questions = []));
      questions.push(sample.question);
    }
  }

  of(profileId: string): Set<string> {
    return this.entry(profileId).questions;
  }

  /** A slot of the profile is taken; `last` when no other open slot of it follows. */
  take(profileId: string, last: boolean): void {
    const entry = this.entry(profileId);
    entry.inFlight++;
    if (last) entry.lastTaken = true;
  }

  /** A slot of the profile finished (filled, empty or stopped). */
  release(profileId: string): void {
    const entry = this.sets.get(profileId);
    if (entry === undefined) return;
    entry.inFlight--;
    if (entry.inFlight === 0 && entry.lastTaken) this.sets.delete(profileId);
  }

  private entry(profileId: string) {
    let entry = this.sets.get(profileId);
    if (entry === undefined) {
      entry = { questions: new Set((this.existing.get(profileId) ?? []).map(questionFingerprint)), inFlight: 0, lastTaken: false };
      this.existing.delete(profileId);
      this.sets.set(profileId, entry);
    }
    return entry;
  }
}

/** Where a sample's answer came from and when. */
export interface Provenance {
  readonly model: string;
  readonly usage: Usage;
  readonly cached: boolean;
  readonly attempt: number;
  readonly strategy: string;
  readonly backend: string;
  readonly at: Date;
}

/** The student's pass rate when the difficulty gate measured one (metadata.gates.difficulty.pass_rate). */
function measuredPassRate(extra: Readonly<Record<string, unknown>>): number | undefined {
  const gates = extra.gates as { difficulty?: { pass_rate?: unknown } } | undefined;
  const rate = gates?.difficulty?.pass_rate;
  return typeof rate === 'number' ? rate : undefined;
}

/** The sample a slot keeps: the verified answer, the slot's plan and the answer's provenance. */
export function toSample(
  slot: Slot,
  profile: Profile,
  content: VerifiedContent,
  provenance: Provenance,
  extra: Readonly<Record<string, unknown>>,
): Sample {
  const passRate = measuredPassRate(extra);
  return {
    id: slot.id,
    character_name: profile.name,
    character_profile: profile.fields,
    conversation_history: slot.kind === 'CM' ? content.conversation_history : [],
    question: content.question,
    reasoning: content.reasoning,
    answer: content.answer,
    keywords: content.keywords,
    keyword_alternatives: content.keyword_alternatives,
    question_type: content.question_type,
    // The verifier rejects repeated keywords, so several keywords are several distinct facts.
    validation_method: content.keywords.length === 1 ? 'single_term_validation' : 'multi_term_parsing',
    difficulty: passRate === undefined ? content.difficulty : difficultyOfPassRate(passRate),
    metadata: {
      kind: slot.kind,
      backend: provenance.backend,
      model: provenance.model,
      language: slot.language,
      strategy: provenance.strategy,
      generated_at: provenance.at.toISOString(),
      usage: storedUsage(provenance.usage),
      attempt: provenance.attempt,
      focus: describeFocus(slot.focus),
      ...(provenance.cached ? { cached: true as const } : {}),
      difficulty_source: passRate === undefined ? 'model_label' : 'student_pass_rate',
      ...(slot.kind === 'CM' && content.distractor !== undefined ? { distractor: content.distractor } : {}),
      ...extra,
    },
  };
}
