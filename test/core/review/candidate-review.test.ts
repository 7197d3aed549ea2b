import { describe, expect, it } from 'vitest';
import { buildReview, type Candidate } from '../../../orchestrator/src/core/review/candidate-review.ts';
import type { VerifiedContent } from '../../../orchestrator/src/core/verify/keyword-verifier.ts';
import type { Slot } from '../../../orchestrator/src/core/profiles/plan.ts';
import type { Profile } from '../../../orchestrator/src/core/profiles/profile.ts';
import type { QualityGate } from '../../../orchestrator/src/core/review/quality-gates.ts';
import {
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../../../orchestrator/src/core/ports/llm-backend.ts';

const profile: Profile = {
  id: 'ann',
  name: 'Ann',
  aliases: [],
  language: 'en',
  fields: { bio: 'a baker in Tallinn' },
  text: 'bio: a baker in Tallinn',
  location: 'test',
};
const slot: Slot = {
  id: 'ann/SBK/0',
  profileId: 'ann',
  kind: 'SBK',
  index: 0,
  language: 'en',
  focus: { field: 'bio', questionType: 'where' },
};
const candidate = (question: string): Candidate => ({
  content: {
    question,
    reasoning: 'r',
    answer: 'In Tallinn.',
    keywords: ['Tallinn'],
    keyword_alternatives: [[]],
    question_type: 'where',
    difficulty: 'easy',
    conversation_history: [],
  } as VerifiedContent,
  result: { text: '{}', model: 'qwen', usage: { inputTokens: 10, outputTokens: 5 }, requests: 1 },
});

/** A judge that scores by the candidate's question, or fails for questions that say so. */
function judge(scores: Record<string, number | 'fail'>): LlmBackend {
  return {
    name: 'bedrock',
    inFlight: () => 0,
    async generate(request: GenerateRequest): Promise<GenerateResult> {
      const question = /"question": "([^"]+)"/u.exec(request.messages[1]?.content ?? '')?.[1] ?? '';
      const score = scores[question];
      if (score === 'fail') throw new TransportError('judge timed out', 3);
      return {
        text: JSON.stringify({ score, reason: `scored ${question}` }),
        model: 'judge-model',
        usage: { inputTokens: 100, outputTokens: 10 },
        requests: 1,
      };
    },
  };
}

const gate = (name: string, pass: (question: string) => boolean): QualityGate => ({
  name,
  check: async ({ content }) => ({
    passed: pass(content.question),
    detail: `${name} says ${pass(content.question)}`,
    record: { passed: pass(content.question) },
    calls: [],
  }),
});

describe('candidate review (filter strategy and quality gates)', () => {
  it('keeps the best-scoring candidate at or above the minimum; the rest are rejected with their verdicts', async () => {
    const review = buildReview({ judge: { backend: judge({ a: 6, b: 9, c: 8 }), minScore: 7 }, gates: [] })!;
    const outcome = await review({ slot, profile, candidates: [candidate('a'), candidate('b'), candidate('c')] });
    expect(outcome.keep).toBe(1);
    expect(outcome.decisions.map((d) => d.reason)).toEqual(['judge_below_min_score', undefined, 'judge_not_best']);
    expect(outcome.decisions[1]?.review).toEqual({
      judge: { backend: 'bedrock', model: 'judge-model', score: 9, reason: 'scored b', min_score: 7 },
    });
    expect(outcome.decisions.every((d) => d.calls.length === 1 && d.calls[0]?.purpose === 'judge')).toBe(true);
  });

  it('falls back to the next best candidate when the best fails a gate, and records each gate decision', async () => {
    const review = buildReview({ judge: { backend: judge({ a: 9, b: 8 }), minScore: 7 }, gates: [gate('difficulty', (q) => q !== 'a')] })!;
    const outcome = await review({ slot, profile, candidates: [candidate('a'), candidate('b')] });
    expect(outcome.keep).toBe(1);
    expect(outcome.decisions[0]).toMatchObject({
      reason: 'gate_difficulty',
      review: { judge: { score: 9 }, gates: { difficulty: { passed: false } } },
    });
    expect(outcome.decisions[1]?.review).toMatchObject({ gates: { difficulty: { passed: true } } });
  });

  it('rejects a candidate the judge could not score, and keeps none when nothing passes', async () => {
    const review = buildReview({ judge: { backend: judge({ a: 'fail', b: 3 }), minScore: 7 }, gates: [] })!;
    const outcome = await review({ slot, profile, candidates: [candidate('a'), candidate('b')] });
    expect(outcome.keep).toBeUndefined();
    expect(outcome.decisions.map((d) => d.reason)).toEqual(['judge_failed', 'judge_below_min_score']);
  });

  it('is absent without a judge or gates, so a plain run takes the unchanged path', () => {
    expect(buildReview({ gates: [] })).toBeUndefined();
  });
});
