/**
 * Parity of raiden_reward.py's answer guards and reward parts with answer-guards.ts: the same completions
 * (each corpus sample's own answer, every probe hack built from it, crafted edge cases of each guard and
 * seeded random answers) go through rewardParts/guardFailures and through `python3 raiden_reward.py` as an
 * export ships it, and must get identical answers, failures (guard and detail) and scores.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hacksFor } from '../../orchestrator/src/core/export/reward-probe.ts';
import { renderProfileText } from '../../orchestrator/src/core/profiles/profile.ts';
import { answerText, guardFailures, guardTruth, rewardParts, type GuardTruth } from '../../orchestrator/src/core/verify/answer-guards.ts';
import { corpus } from '../core/verify/keyword-corpus.ts';
import { pythonCheck, strings, suiteRewardDirectory } from './python-reward.ts';

interface PythonAnswer {
  readonly score: number;
  readonly keywords: number;
  readonly guards: number;
  readonly format: number;
  readonly failed: string[];
  readonly answer: string;
  readonly failures: [string, string][];
}

interface GuardCase {
  readonly completion: string;
  readonly truth: GuardTruth;
  readonly origin: string;
}

const reward = suiteRewardDirectory();

/** The ground truth an export would give each corpus sample that has keywords and an answer. */
function corpusTruths(): { truth: GuardTruth; profileText: string; userTurns: string[]; id: string; accepted: boolean }[] {
  return corpus.verdict_cases.flatMap((c) => {
    const keywords = strings(c.output.keywords);
    const profile = corpus.profiles[c.profile];
    if (keywords.length === 0 || typeof c.output.answer !== 'string' || profile === undefined) return [];
    const turns = Array.isArray(c.output.conversation_history)
      ? (c.output.conversation_history as { role?: unknown; content?: unknown }[]).map((turn) => ({
          role: String(turn.role ?? ''),
          content: String(turn.content ?? ''),
        }))
      : [];
    const alternatives = Array.isArray(c.output.keyword_alternatives) ? c.output.keyword_alternatives.map(strings) : [];
    const profileText = renderProfileText(profile.fields);
    const truth = guardTruth({
      kind: c.kind,
      language: /[\u4e00-\u9fff]/u.test(c.output.answer) ? 'zh' : 'en',
      keywords,
      keyword_alternatives: keywords.map((_, index) => alternatives[index] ?? []),
      question: String(c.output.question ?? ''),
      profileText,
      names: [profile.name, ...profile.aliases],
      fieldLabels: Object.keys(profile.fields),
      conversation: turns,
      distractor: typeof c.output.distractor === 'string' ? c.output.distractor : undefined,
      referenceAnswer: c.output.answer,
    });
    return [
      {
        truth,
        profileText,
        userTurns: turns.filter((turn) => turn.role === 'user').map((turn) => turn.content),
        id: c.id,
        accepted: c.expected.verdict === 'accept',
      },
    ];
  });
}

const EN: GuardTruth = {
  keywords: ['Brest'],
  keyword_alternatives: [[]],
  kind: 'SBK',
  language: 'en',
  distractors: [],
  rivals: ['Quimper', 'the lighthouse keeper', 'sea charts'],
  allowed_numbers: [],
  in_character: [],
  reference_answer: 'I grew up in Brest, by the harbour.',
};
const ZH_CM: GuardTruth = {
  keywords: ['绿萝'],
  keyword_alternatives: [[]],
  kind: 'CM',
  language: 'zh',
  distractors: ['风筝'],
  rivals: ['我邻居买了风筝', '周末去公园'],
  allowed_numbers: [],
  in_character: [],
  reference_answer: '你说你买的是绿萝呀。',
};
const YEAR: GuardTruth = {
  ...EN,
  keywords: ['1984'],
  keyword_alternatives: [["'84"]],
  allowed_numbers: ['1984', '84'],
  reference_answer: 'I was born in 1984.',
};
const ROBOT: GuardTruth = { ...EN, in_character: ['as an ai'] };

/** Edge cases of each guard: window edges, clause boundaries, contractions, think placements, scripts. */
const CRAFTED: GuardCase[] = (
  [
    [EN, 'I grew up in Brest.'],
    [EN, 'I never lived anywhere but Brest.'],
    [EN, 'I never said so, but: Brest.'],
    [EN, 'No, I grew up in Brest.'],
    [EN, "I didn't grow up in Brest."],
    [EN, "Don't laugh, Brest."],
    [EN, 'not one two three four five six Brest'],
    [EN, 'not one two three four five Brest'],
    [EN, 'Brest? No, not Brest.'],
    [EN, 'Brest or Quimper, maybe.'],
    [EN, 'Brest, near Quimper.'],
    [EN, 'Brest, Quimper, the lighthouse keeper and my sea charts.'],
    [EN, `${'well '.repeat(60)}Brest`],
    [EN, '我在Brest长大，那里很美。'],
    [EN, 'As an AI, I can say Brest.'],
    [ROBOT, 'As an AI, I can say Brest.'],
    [EN, '<think>Brest</think>I forget.'],
    [EN, 'Hmm.<think>Brest</think>I forget.'],
    [EN, 'thinking about Brest</think>I forget.'],
    [EN, '<think>ok</think>Brest.<think>or Quimper'],
    [EN, '<think>a</think>x</think>Brest'],
    [EN, '<think>only thinking'],
    [YEAR, 'Born in 1984.'],
    [YEAR, "Born in '84."],
    [YEAR, 'Born in 1984, moved in 2001.'],
    [YEAR, 'Either 1984 or 1986.'],
    [YEAR, '1984/03/03 it was.'],
    [ZH_CM, '你说你买的是绿萝呀。'],
    [ZH_CM, '绿萝还是风筝来着？'],
    [ZH_CM, '绿萝是你邻居买的，你买的是风筝。'],
    [ZH_CM, '我从来没听你说过绿萝。'],
    [ZH_CM, '我记得，绿萝。'],
    [ZH_CM, '不是风筝，是绿萝。'],
    [ZH_CM, 'You bought a 绿萝, I remember.'],
    [ZH_CM, '作为一个AI，我记得是绿萝。'],
    [ZH_CM, '你邻居买了风筝，你周末去公园，你买了绿萝。'],
    [ZH_CM, '我还是记得你买的是绿萝。'],
    [ZH_CM, '绿萝还是风筝？是绿萝。'],
    [ZH_CM, '可能是绿萝吧。'],
    [EN, 'Brest, or thereabouts.'],
    [EN, 'You might know Brest.'],
  ] as const
).map(([truth, completion]) => ({ truth, completion, origin: 'crafted' }));

const UNITS = [
  'Brest',
  'brest',
  'Quimper',
  ' ',
  ', ',
  '. ',
  'not ',
  'never ',
  "n't ",
  'or ',
  'I ',
  'AI ',
  '绿萝',
  '风筝',
  '不是',
  '没',
  '，',
  '。',
  '还是',
  '<think>',
  '</think>',
  '1984',
  '86',
  '0',
];

function randomCases(): GuardCase[] {
  const text = fc.array(fc.constantFrom(...UNITS), { maxLength: 16 }).map((units) => units.join(''));
  return fc
    .sample(fc.tuple(text, fc.constantFrom(EN, ZH_CM, YEAR)), { seed: 20_261_208, numRuns: 1500 })
    .map(([completion, truth]) => ({ completion, truth, origin: 'random' }));
}

describe('raiden_reward.py applies the answer guards as answer-guards.ts does', () => {
  it('gives identical answers, failures and scores on every case', () => {
    // Every fourth corpus sample: each hack is a long text, and Python tokenises 20,000 filler characters slowly.
    const fromCorpus = corpusTruths()
      .filter((_, index) => index % 4 === 0)
      .flatMap((row) => [
        { completion: row.truth.reference_answer ?? '', truth: row.truth, origin: `corpus ${row.id} reference` },
        ...hacksFor({ id: row.id, truth: row.truth, profileText: row.profileText, userTurns: row.userTurns }).map((hack) => ({
          completion: hack.completion,
          truth: row.truth,
          origin: `corpus ${row.id} ${hack.name}`,
        })),
      ]);
    const cases = [...fromCorpus, ...CRAFTED, ...randomCases()];
    const answers = pythonCheck<PythonAnswer>(
      reward.directory(),
      cases.map((c) => ({ response: c.completion, ground_truth: JSON.stringify(c.truth) })),
    );
    expect(answers).toHaveLength(cases.length);
    const differences = cases.flatMap((c, index) => {
      const python = answers[index] as PythonAnswer;
      const parts = rewardParts(c.completion, c.truth);
      const answer = answerText(c.completion);
      const typescript = {
        score: parts.score,
        keywords: parts.keywords,
        guards: parts.guards,
        format: parts.format,
        failed: parts.failed,
        answer,
        failures: guardFailures(answer, c.truth).map((failure) => [failure.guard, failure.detail]),
      };
      return JSON.stringify(python) === JSON.stringify(typescript)
        ? []
        : [{ origin: c.origin, completion: c.completion.slice(0, 200), python, typescript }];
    });
    expect(differences).toEqual([]);
    expect(fromCorpus.length).toBeGreaterThan(100);
    // Every guard fails somewhere and every case kind passes somewhere: agreement is not one constant answer.
    const failed = new Set(answers.flatMap((answer) => answer.failed));
    expect([...failed].sort()).toEqual(['distractor', 'hedge', 'in_character', 'language', 'length', 'negation', 'recital']);
    expect(answers.some((answer) => answer.score === 1)).toBe(true);
  });

  it('reads 还是 before a keyword as "still", and a choice word after one, or a doubt word on either side, as a hedge', () => {
    const failed = (truth: GuardTruth, answer: string) => guardFailures(answer, truth).map((failure) => failure.guard);
    expect(failed(ZH_CM, '我还是记得你买的是绿萝。')).toEqual([]);
    expect(failed(ZH_CM, '可能是绿萝吧。')).toEqual(['hedge']);
    expect(failed(EN, 'Brest, or thereabouts.')).toEqual(['hedge']);
    expect(failed(EN, 'Maybe Brest.')).toEqual(['hedge']);
    expect(failed(EN, 'You might know Brest.')).toEqual([]);
  });

  it('pays every reference answer the verifier accepts and no hack built from it above 0.2', () => {
    const rows = corpusTruths().filter((row) => row.accepted);
    const paid = rows.flatMap((row) =>
      hacksFor({ id: row.id, truth: row.truth, profileText: row.profileText, userTurns: row.userTurns })
        .filter((hack) => rewardParts(hack.completion, row.truth).score > 0.2)
        .map((hack) => `${row.id}: ${hack.name}`),
    );
    expect(paid).toEqual([]);
    expect(rows.filter((row) => rewardParts(row.truth.reference_answer ?? '', row.truth).score !== 1).map((row) => row.id)).toEqual([]);
    expect(rows.length).toBeGreaterThan(15);
  });
});
