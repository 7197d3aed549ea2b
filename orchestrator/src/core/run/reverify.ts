/**
 * `raiden reverify`: the current verification rules applied again to every output a run holds, accepted
 * and rejected, without a model call. An accepted sample that now fails becomes a reject with its new
 * reason; a rejected output that now passes becomes its slot's sample when the slot has none (for
 * strategies that keep the first verified output; a judge or a gate would have to see it first); every
 * other reject gets the reason the current rules give, but one a judge or gate refused keeps that reason
 * while the rules still pass it. The result goes to a staged store, which the front door swaps in for the
 * run's files as a whole.
 */
import type { RunStore } from '../ports/run-store.ts';
import type { ResponseCache } from '../ports/response-cache.ts';
import { newCounters, toSample, verifyOutput, type EmptySlot, type GenerationCounters } from './generation-run.ts';
import type { VerifiedContent } from '../verify/keyword-verifier.ts';
import type { Slot } from '../profiles/plan.ts';
import type { PreparedRun } from './prepare-run.ts';
import type { Profile } from '../profiles/profile.ts';
import type { RejectRecord, Sample } from '../verify/sample.ts';
import { questionFingerprint } from '../verify/text-normalize.ts';

export interface ReverifyInput {
  readonly prepared: PreparedRun;
  /** The run as it is now. */
  readonly current: Pick<RunStore, 'readSamples' | 'readRejects'>;
  /** An empty store the re-verified samples and rejects are appended to. */
  readonly staged: Pick<RunStore, 'appendSample' | 'appendReject'>;
  /** Where the whole output of a reject whose raw_output was cut is kept; without it such a reject stays as it is. */
  readonly outputs?: Pick<ResponseCache, 'get'> | undefined;
  readonly now: () => Date;
}

/** report.json's `reverify` section. */
export interface ReverifySummary {
  readonly reverified_at: string;
  readonly samples: { checked: number; kept: number; dropped: number; dropped_by_reason: Record<string, number> };
  readonly rejects: {
    checked: number;
    /** Rejected outputs that pass now and became the sample of a slot that had none. */
    revived: number;
    /** Outputs whose reason under the current rules differs from the one recorded. */
    reason_changed: number;
    /** Cut outputs whose whole text the cache no longer holds: kept as they were. */
    unverifiable: number;
    /** Failed calls: no output to judge. */
    without_output: number;
  };
  slots_without_sample: number;
}

export interface ReverifyOutcome {
  readonly summary: ReverifySummary;
  /** Planned slots without a sample after re-verification: what a fill generates. */
  readonly emptySlots: EmptySlot[];
  /** The re-verification as an invocation of the run: no request, the revived samples accepted, the dropped ones rejected. */
  readonly counters: GenerationCounters;
}

/** Reasons a review gave (judge, gates) to an output the rules had passed: it stays refused while the rules still pass it. */
const REVIEWED = /^(?:judge_|gate_|not_kept$)/u;

/** The reason of an output that passes the rules but is not its slot's sample. */
const SLOT_ALREADY_FILLED = 'slot_already_filled';

export async function reverifyRun(input: ReverifyInput): Promise<ReverifyOutcome> {
  const { prepared, staged, now } = input;
  const at = now();
  const slots = new Map(prepared.slots.map((slot) => [slot.id, slot]));
  const { spec } = prepared.plan;
  // A kept sample must have passed every review its strategy applies; a revived output has seen none.
  const revives =
    (spec.strategy === 'sglang' || spec.strategy === 'bedrock') &&
    spec.keywordAgreementModels.length === 0 &&
    spec.difficultyStudentModel === undefined;
  const questions = new Map<string, Set<string>>();
  const questionsOf = (profileId: string) => {
    let set = questions.get(profileId);
    if (set === undefined) questions.set(profileId, (set = new Set()));
    return set;
  };
  const filled = new Set<string>();
  const lastReject = new Map<string, { attempt: number; reason: string }>();
  const counters = newCounters(prepared.slots.length, 0);
  const summary: ReverifySummary = {
    reverified_at: at.toISOString(),
    samples: { checked: 0, kept: 0, dropped: 0, dropped_by_reason: {} },
    rejects: { checked: 0, revived: 0, reason_changed: 0, unverifiable: 0, without_output: 0 },
    slots_without_sample: 0,
  };
  const planned = (id: string): { slot: Slot; profile: Profile } | undefined => {
    const slot = slots.get(id);
    const profile = slot === undefined ? undefined : prepared.profiles.get(slot.profileId);
    return slot === undefined || profile === undefined ? undefined : { slot, profile };
  };

  for await (const sample of input.current.readSamples()) {
    summary.samples.checked++;
    const found = planned(sample.id);
    // A sample of a profile this plan no longer holds is not this dataset's: left as it is, for the dataset to leave out.
    if (found === undefined) {
      await staged.appendSample(sample);
      continue;
    }
    const accepted = questionsOf(found.profile.id);
    const output = JSON.stringify(answerOf(sample));
    const verdict = verifyOutput(output, found.profile, found.slot, accepted);
    if (verdict.ok) {
      accepted.add(questionFingerprint(verdict.content.question));
      filled.add(sample.id);
      await staged.appendSample(sample);
      summary.samples.kept++;
      continue;
    }
    summary.samples.dropped++;
    summary.samples.dropped_by_reason[verdict.reason] = (summary.samples.dropped_by_reason[verdict.reason] ?? 0) + 1;
    counters.rejected++;
    counters.rejectsByReason[verdict.reason] = (counters.rejectsByReason[verdict.reason] ?? 0) + 1;
    lastReject.set(sample.id, { attempt: sample.metadata.attempt, reason: verdict.reason });
    await staged.appendReject(rejectOfSample(sample, output, verdict.reason, verdict.detail, at));
  }
  counters.alreadyDone = summary.samples.kept;

  for await (const reject of input.current.readRejects()) {
    summary.rejects.checked++;
    const keep = async (record: RejectRecord) => {
      const previous = lastReject.get(record.slot_id);
      if (previous === undefined || record.attempt >= previous.attempt)
        lastReject.set(record.slot_id, { attempt: record.attempt, reason: record.reason });
      await staged.appendReject(record);
    };
    const found = planned(reject.slot_id);
    if (found === undefined) {
      await keep(reject);
      continue;
    }
    if (reject.model === '' || reject.reason === 'transport_error') {
      summary.rejects.without_output++;
      await keep(reject);
      continue;
    }
    const output = reject.output_key === undefined ? reject.raw_output : (await input.outputs?.get(reject.output_key))?.text;
    if (output === undefined) {
      summary.rejects.unverifiable++;
      await keep(reject);
      continue;
    }
    const accepted = questionsOf(found.profile.id);
    const verdict = verifyOutput(output, found.profile, found.slot, accepted);
    const reviewed = REVIEWED.test(reject.reason);
    if (verdict.ok && !reviewed && revives && !filled.has(reject.slot_id)) {
      accepted.add(questionFingerprint(verdict.content.question));
      filled.add(reject.slot_id);
      await staged.appendSample(revived(found.slot, found.profile, verdict.content, reject, prepared.plan.spec.strategy));
      summary.rejects.revived++;
      counters.accepted++;
      continue;
    }
    const [reason, detail] = !verdict.ok
      ? [verdict.reason, verdict.detail]
      : reviewed
        ? [reject.reason, reject.detail]
        : [SLOT_ALREADY_FILLED, 'passes the current rules, but its slot already has a sample'];
    if (reason !== reject.reason) summary.rejects.reason_changed++;
    await keep({ ...reject, reason, detail });
  }

  const emptySlots: EmptySlot[] = [];
  for (const slot of prepared.slots) {
    if (filled.has(slot.id)) continue;
    const last = lastReject.get(slot.id);
    emptySlots.push({ slot_id: slot.id, attempts: last?.attempt ?? 0, last_reason: last?.reason ?? '' });
  }
  summary.slots_without_sample = emptySlots.length;
  counters.emptySlots = emptySlots.length;
  return { summary, emptySlots, counters };
}

/** What the model answered for a sample, in the shape it answers in: the sample's own fields. */
function answerOf(sample: Sample): Record<string, unknown> {
  return {
    ...(sample.metadata.kind === 'CM' ? { conversation_history: sample.conversation_history, distractor: sample.metadata.distractor } : {}),
    question_type: sample.question_type,
    question: sample.question,
    keywords: sample.keywords,
    keyword_alternatives: sample.keyword_alternatives,
    reasoning: sample.reasoning,
    answer: sample.answer,
    difficulty: sample.difficulty,
  };
}

/** A sample the current rules refuse, as the reject it would have been: its whole answer kept, so a later reverify can judge it again. */
function rejectOfSample(sample: Sample, output: string, reason: string, detail: string, at: Date): RejectRecord {
  const { metadata } = sample;
  const review = {
    ...(metadata.judge !== undefined ? { judge: metadata.judge } : {}),
    ...(metadata.gates !== undefined ? { gates: metadata.gates } : {}),
  };
  const calls = metadata.review_calls;
  return {
    slot_id: sample.id,
    attempt: metadata.attempt,
    reason,
    detail,
    raw_output: output,
    backend: metadata.backend,
    model: metadata.model,
    usage: metadata.usage,
    ...(metadata.cached ? { cached: true as const } : {}),
    rejected_at: at.toISOString(),
    ...(Object.keys(review).length > 0 ? { review } : {}),
    ...(Array.isArray(calls) && calls.length > 0 ? { review_calls: calls } : {}),
  };
}

function revived(slot: Slot, profile: Profile, content: VerifiedContent, reject: RejectRecord, strategy: string): Sample {
  return toSample(
    slot,
    profile,
    content,
    {
      model: reject.model,
      usage: {
        inputTokens: reject.usage.input_tokens,
        outputTokens: reject.usage.output_tokens,
        ...(reject.usage.cache_read_input_tokens !== undefined ? { cacheReadInputTokens: reject.usage.cache_read_input_tokens } : {}),
        ...(reject.usage.cache_write_input_tokens !== undefined ? { cacheWriteInputTokens: reject.usage.cache_write_input_tokens } : {}),
      },
      cached: reject.cached === true,
      attempt: reject.attempt,
      strategy,
      backend: reject.backend,
      at: new Date(reject.rejected_at),
    },
    { revived_by_reverify: true },
  );
}

/** Sections of report.json a front door added (the workflow's batches, Bedrock batch jobs) that a rewritten report keeps. */
export function carriedReportSections(report: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const carried: Record<string, unknown> = {};
  for (const key of ['workflow', 'bedrock_batch']) if (report?.[key] !== undefined) carried[key] = report[key];
  return carried;
}
