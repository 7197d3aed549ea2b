import type { GenerateResult, LlmBackend } from '../ports/llm-backend.ts';
import { judgeSample, type JudgeOutcome } from './judge.ts';
import type { VerifiedContent } from '../verify/keyword-verifier.ts';
import type { Slot } from '../profiles/plan.ts';
import type { Profile } from '../profiles/profile.ts';
import type { QualityGate } from './quality-gates.ts';
import type { ReviewCall } from '../verify/sample.ts';

/** A generated output that passed verification, waiting for the judge and the gates. */
export interface Candidate {
  readonly content: VerifiedContent;
  readonly result: GenerateResult;
}

export interface CandidateDecision {
  /** Why the candidate was not kept; undefined for the kept one. */
  readonly reason?: string;
  readonly detail?: string;
  /** Judge verdict and gate decisions, stored in the sample's metadata or the reject record. */
  readonly review: Readonly<Record<string, unknown>>;
  readonly calls: readonly ReviewCall[];
}

export interface ReviewOutcome {
  /** Index of the candidate to keep, if any passed. */
  readonly keep?: number;
  /** One decision per candidate, same order. */
  readonly decisions: readonly CandidateDecision[];
}

export type CandidateReview = (input: {
  readonly slot: Slot;
  readonly profile: Profile;
  readonly candidates: readonly Candidate[];
}) => Promise<ReviewOutcome>;

export interface ReviewSettings {
  /** Scores every candidate; the best at or above minScore is tried first (filter strategy). */
  readonly judge?: { readonly backend: LlmBackend; readonly minScore: number } | undefined;
  readonly gates: readonly QualityGate[];
}

/**
 * Judge, then gates: candidates are judged in parallel, tried best score first, and the first that passes
 * every gate is kept. Without a judge, candidates are tried in order. Returns undefined when there is
 * nothing to review, so a plain run takes the same path as before.
 */
export function buildReview(settings: ReviewSettings): CandidateReview | undefined {
  const { judge, gates } = settings;
  if (judge === undefined && gates.length === 0) return undefined;
  return async ({ slot, profile, candidates }) => {
    const verdicts: (JudgeOutcome | undefined)[] = judge
      ? await Promise.all(candidates.map((candidate) => judgeSample(judge.backend, profile, slot.kind, candidate.content)))
      : candidates.map(() => undefined);
    const reviews: Record<string, unknown>[] = verdicts.map((outcome) =>
      outcome === undefined ? {} : { judge: judgeRecord(outcome, judge?.minScore ?? 0) },
    );
    const calls: ReviewCall[][] = verdicts.map((outcome) =>
      outcome === undefined ? [] : outcome.ok ? [outcome.verdict.call] : [...outcome.calls],
    );
    const reasons: ({ reason: string; detail: string } | undefined)[] = verdicts.map((outcome) => {
      if (outcome === undefined || judge === undefined) return undefined;
      if (!outcome.ok) return { reason: 'judge_failed', detail: outcome.error };
      if (outcome.verdict.score < judge.minScore)
        return { reason: 'judge_below_min_score', detail: `score ${outcome.verdict.score} < ${judge.minScore}: ${outcome.verdict.reason}` };
      return undefined;
    });
    const score = (index: number) => {
      const outcome = verdicts[index];
      return outcome?.ok ? outcome.verdict.score : 0;
    };
    const order = candidates
      .map((_, index) => index)
      .filter((index) => reasons[index] === undefined)
      .sort((a, b) => score(b) - score(a) || a - b);

    let keep: number | undefined;
    for (const index of order) {
      if (keep !== undefined) {
        reasons[index] = { reason: 'judge_not_best', detail: `another candidate scored ${score(keep)}` };
        continue;
      }
      const gateRecords: Record<string, unknown> = {};
      let failed: { reason: string; detail: string } | undefined;
      for (const gate of gates) {
        const decision = await gate.check({ slot, profile, content: (candidates[index] as Candidate).content });
        gateRecords[gate.name] = decision.record;
        (calls[index] as ReviewCall[]).push(...decision.calls);
        if (!decision.passed) {
          // An undecided gate is no verdict on the sample: its own reason keeps it apart from a failed gate.
          failed = { reason: decision.undecided ? 'gate_call_failed' : `gate_${gate.name}`, detail: decision.detail };
          break;
        }
      }
      if (gates.length > 0) reviews[index] = { ...reviews[index], gates: gateRecords };
      if (failed === undefined) keep = index;
      else reasons[index] = failed;
    }
    return {
      ...(keep !== undefined ? { keep } : {}),
      decisions: candidates.map((_, index) => ({ ...reasons[index], review: reviews[index] ?? {}, calls: calls[index] ?? [] })),
    };
  };
}

function judgeRecord(outcome: JudgeOutcome, minScore: number): Record<string, unknown> {
  if (!outcome.ok) return { error: outcome.error };
  const { verdict } = outcome;
  return { backend: verdict.backend, model: verdict.model, score: verdict.score, reason: verdict.reason, min_score: minScore };
}
