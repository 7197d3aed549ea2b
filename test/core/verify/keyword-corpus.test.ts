/** The shared keyword corpus run through the matcher and the verifier. */
import { describe, expect, it } from 'vitest';
import { containsKeyword } from '../../../orchestrator/src/core/verify/keyword-match.ts';
import { corpus, verdictOf } from './keyword-corpus.ts';

describe('keyword corpus: matching', () => {
  it.each(corpus.match_cases.map((c) => [c.why, c] as const))('%s', (_, c) => {
    expect(containsKeyword(c.text, c.keyword, c.alternatives)).toBe(c.expected);
  });
});

describe('keyword corpus: verdicts', () => {
  it('covers every source and both verdicts', () => {
    const sources = new Set(corpus.verdict_cases.map((c) => c.source));
    expect([...sources].sort()).toEqual(['design', 'issue', 'paper']);
    expect(corpus.verdict_cases.filter((c) => c.expected.verdict === 'accept').length).toBeGreaterThan(10);
  });

  it.each(corpus.verdict_cases.map((c) => [`${c.id} ${c.description}`, c] as const))('%s', (_, c) => {
    expect(verdictOf(c)).toBe(c.expected.verdict === 'accept' ? 'accept' : c.expected.reason);
  });
});
