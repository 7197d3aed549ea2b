/**
 * The acceptance corpus of issue 18 (test/fixtures/answer-corpus.json): profiles, model outputs for one
 * slot each and the verdict a careful reviewer gives. Helpers turn a case into the profile and slot a run
 * would hold, and score verdicts the same way for the in-process verifier test and the `raiden generate` one.
 */
import { readFileSync } from 'node:fs';
import type { CmTopic, Slot } from '../../../orchestrator/src/core/profiles/plan.ts';
import { normalizeProfiles, type Profile } from '../../../orchestrator/src/core/profiles/profile.ts';
import { parseProfileSource } from '../../../orchestrator/src/core/profiles/profile-formats.ts';
import type { QuestionType, SampleKind } from '../../../orchestrator/src/core/verify/sample.ts';

export interface CorpusSlot {
  readonly kind: SampleKind;
  /** SBK: the profile field the slot's focus chose. */
  readonly field?: string;
  /** CM: the kind of detail the slot asked the user to mention. */
  readonly topic?: CmTopic;
  readonly question_type: QuestionType;
}

export interface CorpusCase {
  readonly id: string;
  readonly category: string;
  readonly verdict: 'accept' | 'reject';
  readonly description: string;
  readonly profile: string;
  readonly slot: CorpusSlot;
  readonly output: Record<string, unknown>;
  /** The verifier gives the wrong verdict today; the test fails once it gives the right one. */
  readonly known_gap?: boolean;
}

export interface AnswerCorpus {
  readonly categories: Record<string, { readonly issue: string; readonly reasons: readonly string[] }>;
  /** Profile records as a generic JSON profile file holds them. */
  readonly profiles: Record<string, Record<string, string>>;
  readonly cases: readonly CorpusCase[];
}

export const answerCorpus = JSON.parse(readFileSync(new URL('../../fixtures/answer-corpus.json', import.meta.url), 'utf8')) as AnswerCorpus;

/** A corpus profile read the way `raiden generate` reads a generic JSON profile file. */
export function corpusProfile(key: string): Profile {
  const record = answerCorpus.profiles[key];
  if (record === undefined) throw new Error(`no corpus profile ${key}`);
  const { records } = parseProfileSource(JSON.stringify([record]), `${key}.json`, 'generic');
  const [profile] = normalizeProfiles(records).profiles;
  if (profile === undefined) throw new Error(`corpus profile ${key} is not usable`);
  return profile;
}

/** The slot a case answers, as the plan would have made it. */
export function corpusSlot(testCase: CorpusCase, profile: Profile): Slot {
  const { kind, field, topic, question_type: questionType } = testCase.slot;
  return {
    id: `${profile.id}/${kind}/0`,
    profileId: profile.id,
    kind,
    index: 0,
    language: profile.language,
    focus: { ...(field !== undefined ? { field } : {}), ...(topic !== undefined ? { topic } : {}), questionType },
  };
}

/** What a verdict says about a case: 'accept', or the reject reason. */
export type Outcome = string;

export interface Scored {
  readonly testCase: CorpusCase;
  readonly got: Outcome;
  /** The verdict is the expected one: accepted when good, rejected for one of its category's reasons when bad. */
  readonly right: boolean;
}

export function score(testCase: CorpusCase, got: Outcome): Scored {
  const reasons = answerCorpus.categories[testCase.category]?.reasons ?? [];
  const right = testCase.verdict === 'accept' ? got === 'accept' : reasons.includes(got);
  return { testCase, got, right };
}

/** Per category: cases, right verdicts, and for bad cases how many were accepted. */
export function categoryTable(scored: readonly Scored[]): string {
  const rows = new Map<string, { cases: number; right: number; accepted: number }>();
  for (const { testCase, got, right } of scored) {
    const row = rows.get(testCase.category) ?? { cases: 0, right: 0, accepted: 0 };
    row.cases++;
    if (right) row.right++;
    if (got === 'accept') row.accepted++;
    rows.set(testCase.category, row);
  }
  const lines = Object.keys(answerCorpus.categories).flatMap((category) => {
    const row = rows.get(category);
    if (row === undefined) return [];
    const count = (n: number) => String(n).padStart(3);
    return [`${category.padEnd(28)} ${count(row.cases)} cases ${count(row.right)} right ${count(row.accepted)} accepted`];
  });
  return lines.join('\n');
}

/**
 * The corpus's acceptance figures: the bad cases accepted outside the known gaps (must be none), every case
 * whose verdict disagrees with its known_gap mark (so a gap that closes gets its mark cleared), the known
 * gaps, and the issue's two figures over every case, gaps included: bad accepted and the good share accepted.
 */
export function summary(scored: readonly Scored[]) {
  const bad = scored.filter((s) => s.testCase.verdict === 'reject');
  const good = scored.filter((s) => s.testCase.verdict === 'accept');
  const badAccepted = bad.filter((s) => s.got === 'accept');
  const goodAccepted = good.filter((s) => s.got === 'accept').length;
  const share = good.length === 0 ? 0 : (100 * goodAccepted) / good.length;
  return {
    badAccepted: badAccepted.filter((s) => s.testCase.known_gap !== true).map((s) => s.testCase.id),
    knownGaps: scored
      .filter((s) => s.testCase.known_gap === true)
      .map((s) => `${s.testCase.id}: expected ${s.testCase.verdict}, got ${s.got}`),
    unexpected: scored
      .filter((s) => s.right === (s.testCase.known_gap === true))
      .map(
        (s) =>
          `${s.testCase.id} (${s.testCase.category}, expected ${s.testCase.verdict}${s.testCase.known_gap === true ? ', marked known_gap' : ''}): got ${s.got}`,
      ),
    figures: `bad accepted: ${badAccepted.length} of ${bad.length}; good accepted: ${goodAccepted} of ${good.length} (${share.toFixed(1)}%)`,
  };
}
