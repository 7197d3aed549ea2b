/**
 * Issue 18's acceptance corpus: every case through the verifier with the context a generation run gives it
 * (verifyOutput), then every case through `raiden generate` against a model server that answers each slot
 * with its case. No bad case may be accepted, and at least 90% of the good ones must be.
 */
import { describe, expect, it } from 'vitest';
import { fieldQuestionTypes, isFocusField } from '../../../orchestrator/src/core/profiles/plan.ts';
import { verifyOutput } from '../../../orchestrator/src/core/run/generation-run.ts';
import { answerCorpus, categoryTable, corpusProfile, corpusSlot, score, summary, type Scored } from './answer-corpus.ts';

const BAD_CATEGORIES = Object.keys(answerCorpus.categories).filter((name) => !name.startsWith('good_'));

describe('answer corpus (issue 18)', () => {
  it('covers every category of the issue with at least 45 bad and 25 good cases', () => {
    const bad = answerCorpus.cases.filter((c) => c.verdict === 'reject');
    const good = answerCorpus.cases.filter((c) => c.verdict === 'accept');
    expect(bad.length).toBeGreaterThanOrEqual(45);
    expect(good.length).toBeGreaterThanOrEqual(25);
    for (const category of Object.keys(answerCorpus.categories))
      expect(answerCorpus.cases.filter((c) => c.category === category).length, category).toBeGreaterThan(0);
    expect(BAD_CATEGORIES.every((name) => answerCorpus.categories[name]?.reasons.length)).toBe(true);
  });

  it('asks for slots a plan can make: an SBK focus field of the profile with a question type that suits it', () => {
    for (const testCase of answerCorpus.cases) {
      const profile = corpusProfile(testCase.profile);
      const { field, question_type: type } = testCase.slot;
      if (testCase.slot.kind === 'CM') continue;
      expect(field !== undefined && isFocusField(field, profile.fields[field] ?? ''), testCase.id).toBe(true);
      expect(fieldQuestionTypes(field ?? ''), testCase.id).toContain(type);
    }
  });

  it('verifier: no bad answer accepted, at least 90% of good ones accepted, known gaps listed', () => {
    const scored: Scored[] = answerCorpus.cases.map((testCase) => {
      const profile = corpusProfile(testCase.profile);
      const verdict = verifyOutput(JSON.stringify(testCase.output), profile, corpusSlot(testCase, profile), new Set());
      return score(testCase, verdict.ok ? 'accept' : verdict.reason);
    });
    const result = summary(scored);
    console.log(`answer corpus through the verifier:\n${categoryTable(scored)}\nknown gaps:\n${result.knownGaps.join('\n')}`);
    expect(result.unexpected).toEqual([]);
    expect(result.badAccepted).toEqual([]);
    expect(result.goodAccepted / result.goodTotal).toBeGreaterThanOrEqual(0.9);
  });
});
