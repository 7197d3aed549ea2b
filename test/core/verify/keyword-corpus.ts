/**
 * The shared keyword corpus (test/fixtures/keyword-corpus.json) and how a case becomes a verification
 * context. Any other implementation of the rules (the trainer exports' reward function) reads the same file.
 */
import { readFileSync } from 'node:fs';
import { verifySample, type VerificationContext } from '../../../orchestrator/src/core/verify/keyword-verifier.ts';
import { renderProfileText } from '../../../orchestrator/src/core/profiles/profile.ts';
import type { QuestionType, SampleKind } from '../../../orchestrator/src/core/verify/sample.ts';

export interface CorpusProfile {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly fields: Record<string, string>;
}

export interface VerdictCase {
  readonly id: string;
  readonly source: 'issue' | 'paper' | 'design';
  readonly description: string;
  readonly profile: string;
  readonly kind: SampleKind;
  readonly asked_question_type: QuestionType;
  readonly output: Record<string, unknown>;
  readonly expected: { readonly verdict: 'accept' | 'reject'; readonly reason: string | null };
}

export interface KeywordCorpus {
  readonly profiles: Record<string, CorpusProfile>;
  readonly match_cases: { text: string; keyword: string; alternatives: string[]; expected: boolean; why: string }[];
  readonly verdict_cases: VerdictCase[];
}

export const corpus = JSON.parse(readFileSync(new URL('../../fixtures/keyword-corpus.json', import.meta.url), 'utf8')) as KeywordCorpus;

export function contextOf(testCase: VerdictCase): VerificationContext {
  const profile = corpus.profiles[testCase.profile];
  if (profile === undefined) throw new Error(`case ${testCase.id}: no profile ${testCase.profile}`);
  return {
    kind: testCase.kind,
    profileText: renderProfileText(profile.fields),
    names: [profile.name, ...profile.aliases],
    fieldLabels: Object.keys(profile.fields),
    questionType: testCase.asked_question_type,
    acceptedQuestions: new Set(),
  };
}

export function verdictOf(testCase: VerdictCase, output: Record<string, unknown> = testCase.output): string {
  const verdict = verifySample(output, contextOf(testCase));
  return verdict.ok ? 'accept' : verdict.reason;
}
