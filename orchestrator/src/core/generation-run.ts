import { BackendUnavailableError, TransportError, type LlmBackend } from '../llm/llm-backend.ts';
import type { RunStore } from '../store/run-store.ts';
import { verifySample, type SampleContent } from './keyword-verifier.ts';
import { parseModelJson } from './model-output.ts';
import { describeFocus, type Slot } from './plan.ts';
import type { Profile } from './profile.ts';
import { buildMessages } from './prompts.ts';
import { responseSchema } from './sample-schema.ts';
import { RAW_OUTPUT_LIMIT, type RejectRecord, type Sample } from './sample.ts';
import { questionFingerprint } from './text-normalize.ts';

export interface GenerationOptions {
  readonly profiles: ReadonlyMap<string, Profile>;
  readonly slots: readonly Slot[];
  readonly backend: LlmBackend;
  readonly store: RunStore;
  /** Samples already accepted in this run directory: their slots are skipped, their questions count for duplicates. */
  readonly existing: readonly Sample[];
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly strategy: string;
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly now?: () => Date;
  /** Checked before each new slot: true stops taking work (in-flight slots still finish). */
  readonly shouldStop?: () => boolean;
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
    rejectsByReason: {},
  };
}

/**
 * Fills every open slot: `concurrency` workers each take the next slot in plan order (profile-grouped)
 * and keep calling the model until a sample passes verification or `maxAttempts` is spent. No batch
 * barriers: a slow request only ever holds its own worker.
 */
export async function runGeneration(options: GenerationOptions, counters?: GenerationCounters): Promise<GenerationOutcome> {
  const done = new Set(options.existing.map((sample) => sample.id));
  const open = options.slots.filter((slot) => !done.has(slot.id));
  const live = counters ?? newCounters(options.slots.length, options.slots.length - open.length);
  const questions = new Map<string, Set<string>>();
  for (const sample of options.existing) questionsOf(questions, sample.id.split('/')[0] ?? '').add(questionFingerprint(sample.question));

  const emptySlots: EmptySlot[] = [];
  let next = 0;
  let newSamples = 0;
  let fatalError: string | undefined;
  const now = options.now ?? (() => new Date());

  const record = async (slot: Slot, attempt: number, reason: string, detail: string, raw: string, model: string, usage: Usage) => {
    live.rejected++;
    live.rejectsByReason[reason] = (live.rejectsByReason[reason] ?? 0) + 1;
    const reject: RejectRecord = {
      slot_id: slot.id,
      attempt,
      reason,
      detail,
      raw_output: raw.length > RAW_OUTPUT_LIMIT ? `${raw.slice(0, RAW_OUTPUT_LIMIT)}…[truncated ${raw.length - RAW_OUTPUT_LIMIT} chars]` : raw,
      backend: options.backend.name,
      model,
      usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
      rejected_at: now().toISOString(),
    };
    await options.store.appendReject(reject);
  };

  const fillSlot = async (slot: Slot): Promise<void> => {
    const profile = options.profiles.get(slot.profileId);
    if (profile === undefined) throw new Error(`slot ${slot.id} refers to unknown profile ${slot.profileId}`);
    const schema = responseSchema(slot.kind);
    const messages = buildMessages(profile, slot);
    const accepted = questionsOf(questions, profile.id);
    let lastReason = '';
    for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
      if (fatalError !== undefined) return;
      let result;
      try {
        result = await options.backend.generate({ messages, schema, maxTokens: options.maxTokens ?? 2048, temperature: options.temperature ?? 0.8 });
      } catch (error) {
        if (error instanceof BackendUnavailableError) {
          fatalError = error.message;
          return;
        }
        if (!(error instanceof TransportError)) throw error;
        live.requests += error.requests;
        live.transportFailures += error.requests;
        lastReason = 'transport_error';
        await record(slot, attempt, lastReason, error.message, '', '', { inputTokens: 0, outputTokens: 0 });
        continue;
      }
      live.requests += result.requests;
      live.transportFailures += result.requests - 1;
      live.inputTokens += result.usage.inputTokens;
      live.outputTokens += result.usage.outputTokens;
      const parsed = parseModelJson(result.text);
      const verdict = parsed.ok
        ? verifySample(parsed.value, { kind: slot.kind, profileText: profile.text, names: [profile.name, ...profile.aliases], acceptedQuestions: accepted })
        : ({ ok: false, reason: 'invalid_json', detail: parsed.error } as const);
      if (!verdict.ok) {
        lastReason = verdict.reason;
        await record(slot, attempt, verdict.reason, verdict.detail, result.text, result.model, result.usage);
        continue;
      }
      // Claim the question before the write, so a concurrent slot of this profile sees it as taken.
      accepted.add(questionFingerprint(verdict.content.question));
      await options.store.appendSample(toSample(slot, profile, verdict.content, { ...result, attempt, strategy: options.strategy, backend: options.backend.name, at: now() }));
      live.accepted++;
      newSamples++;
      return;
    }
    if (fatalError !== undefined) return;
    live.emptySlots++;
    emptySlots.push({ slot_id: slot.id, attempts: options.maxAttempts, last_reason: lastReason });
  };

  const worker = async (): Promise<void> => {
    while (next < open.length && fatalError === undefined && !options.shouldStop?.()) {
      const slot = open[next++] as Slot;
      await fillSlot(slot);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, open.length)) }, worker));
  return { counters: live, emptySlots, newSamples, ...(fatalError !== undefined ? { fatalError } : {}) };
}

interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

function questionsOf(map: Map<string, Set<string>>, profileId: string): Set<string> {
  let set = map.get(profileId);
  if (set === undefined) {
    set = new Set();
    map.set(profileId, set);
  }
  return set;
}

interface Provenance {
  readonly model: string;
  readonly usage: Usage;
  readonly attempt: number;
  readonly strategy: string;
  readonly backend: string;
  readonly at: Date;
}

function toSample(slot: Slot, profile: Profile, content: SampleContent, provenance: Provenance): Sample {
  return {
    id: slot.id,
    character_name: profile.name,
    character_profile: profile.fields,
    conversation_history: slot.kind === 'CM' ? content.conversation_history : [],
    question: content.question,
    reasoning: content.reasoning,
    answer: content.answer,
    keywords: content.keywords,
    question_type: content.question_type,
    validation_method: content.keywords.length === 1 ? 'single_term_validation' : 'multi_term_parsing',
    difficulty: content.difficulty,
    metadata: {
      kind: slot.kind,
      backend: provenance.backend,
      model: provenance.model,
      language: slot.language,
      strategy: provenance.strategy,
      generated_at: provenance.at.toISOString(),
      usage: { input_tokens: provenance.usage.inputTokens, output_tokens: provenance.usage.outputTokens },
      attempt: provenance.attempt,
      focus: describeFocus(slot.focus),
    },
  };
}
