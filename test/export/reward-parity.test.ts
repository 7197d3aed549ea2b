/**
 * Parity of raiden_reward.py with the TypeScript matcher: every case of the shared keyword corpus, crafted
 * edge cases and seeded random texts go through keyword-match.ts and through `python3 raiden_reward.py`
 * (as an export ships it), and must get identical verdicts (and identical canonical text and tokens).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalText, containsKeyword, matchTokens } from '../../orchestrator/src/core/verify/keyword-match.ts';
import { renderProfileText } from '../../orchestrator/src/core/profiles/profile.ts';
import { corpus } from '../core/verify/keyword-corpus.ts';
import { pythonCheck, pythonRun, strings, suiteRewardDirectory } from './python-reward.ts';

interface TextAnswer {
  readonly canonical: string;
  readonly tokens: string[];
  readonly contains?: boolean;
}

interface ContainsCase {
  readonly text: string;
  readonly keyword: string;
  readonly alternatives: readonly string[];
  readonly origin: string;
}

interface ScoreCase {
  readonly response: string;
  readonly keywords: readonly string[];
  readonly alternatives: readonly (readonly string[])[];
  readonly origin: string;
}

const reward = suiteRewardDirectory();

/** Verdict cases whose output has keywords and an answer: the reward's (answer, ground truth) cases. */
function scoreCases(): ScoreCase[] {
  return corpus.verdict_cases.flatMap((c) => {
    const keywords = strings(c.output.keywords);
    if (keywords.length === 0 || typeof c.output.answer !== 'string') return [];
    const alternatives = Array.isArray(c.output.keyword_alternatives) ? c.output.keyword_alternatives.map(strings) : [];
    return [{ response: c.output.answer, keywords, alternatives, origin: `verdict ${c.id}` }];
  });
}

/** Every keyword of every verdict case against every text of its case: answer, question, reasoning, turns, profile. */
function verdictTextCases(): ContainsCase[] {
  return corpus.verdict_cases.flatMap((c) => {
    const profile = corpus.profiles[c.profile];
    const turns = Array.isArray(c.output.conversation_history)
      ? (c.output.conversation_history as { content?: unknown }[]).map((turn) => String(turn.content ?? ''))
      : [];
    const texts = [
      c.output.answer,
      c.output.question,
      c.output.reasoning,
      ...turns,
      profile ? renderProfileText(profile.fields) : '',
    ].filter((text): text is string => typeof text === 'string');
    const alternatives = Array.isArray(c.output.keyword_alternatives) ? c.output.keyword_alternatives.map(strings) : [];
    return strings(c.output.keywords).flatMap((keyword, index) =>
      texts.map((text) => ({ text, keyword, alternatives: alternatives[index] ?? [], origin: `verdict ${c.id} keyword ${keyword}` })),
    );
  });
}

/** Edge cases of each step of keyword-match.ts that the corpus does not spell out. */
const CRAFTED: ContainsCase[] = [
  ['The boss’s chair', "boss's"],
  ["the class' notes", 'class'],
  ["James' hat", 'james'],
  ["it's cold", 'it'],
  ['cities and buses', 'city'],
  ['the bus stopped', 'bu'],
  ['1,000.5 yuan', '1000.5'],
  ['1,0000 steps', '1000'],
  ['version 3.14.15', '3.14'],
  ['两千块', '2000'],
  ['一万二千人', '12000'],
  ['二〇二四年', '2024'],
  ['十一月', '11'],
  ['零下', '0'],
  ['三三两两', '3'],
  ['七八个人', '78'],
  ['舊書店', '旧书'],
  ['ＡＢＣ１２３', 'abc123'],
  ['ΟΔΟΣ', 'οδος'],
  ['İstanbul', 'istanbul'],
  ['cafe\u0301 au lait', 'café'],
  ['ﬁne art', 'fine'],
  ['第①名', '1'],
  ['㍻元年', '平成'],
  ['ｶタカナ', 'カタカナ'],
  ['한국어 수업', '한국어'],
  ['٣ apples', '٣'],
  ['a 😀 day', '😀'],
  ['𠀀𠀁 are rare', '𠀀'],
  ['Ⅻ chapters', 'xii'],
  ['\u212a is kelvin', 'k'],
  ['a\u1680b', 'a b'],
  ['a\u2028b', 'ab'],
  ['a\u001cb', 'a\u001cb'],
  ['a\u0085b', 'a b'],
  ['tab\there', 'tab here'],
  ['zero\u200bwidth', 'zerowidth'],
  ['soft\u00adhyphen', 'softhyphen'],
  ['「青柠」', '"青柠"'],
  ['5月5号', '5月5日'],
  ['born 03.03.1984', '3/3/1984'],
  ['on 1984-03-05 at noon', '1984'],
  ['ip 192.168.1.1', '1.1'],
  ['1.2.3.4', '2.3'],
  ['12/25/2024-01', '2024'],
].map(([text, keyword]) => ({ text: text as string, keyword: keyword as string, alternatives: [], origin: 'crafted' }));

const UNITS = [
  ...'asSeiy',
  "'",
  "'s",
  'ies',
  ...'0123456789',
  ',',
  '.',
  '/',
  '-',
  '03',
  ',000',
  ' ',
  '\t',
  '\n',
  '\u3000',
  '\u00a0',
  '\u1680',
  '\u2028',
  '\u001c',
  '\u0085',
  '\u200b',
  '\ufeff',
  '\u00ad',
  ...'三十五两万亿零〇一百千岁年舊旧書王桂兰',
  ...'’“、，。・—～「」',
  ...'Ａ１５',
  'é',
  'e\u0301',
  'İ',
  'Σ',
  'ς',
  'ß',
  'ﬁ',
  '①',
  '½',
  '㍻',
  'ｶ',
  '한',
  '٣',
  '😀',
  '𠀀',
  'Ⅻ',
  'party',
  'art',
  'James',
  'boss',
  'class',
  'cities',
  'bus',
];

/** Seeded random texts over the characters each step treats specially, and a keyword cut from each. */
function randomCases(): ContainsCase[] {
  const text = fc.string({ unit: fc.constantFrom(...UNITS), maxLength: 24 });
  return fc.sample(fc.tuple(text, fc.nat(), fc.nat({ max: 8 })), { seed: 20_251_130, numRuns: 3000 }).map(([value, start, length]) => {
    const chars = [...value];
    const from = chars.length === 0 ? 0 : start % chars.length;
    return { text: value, keyword: chars.slice(from, from + length + 1).join(''), alternatives: [], origin: 'random' };
  });
}

describe('raiden_reward.py matches keyword-match.ts', () => {
  const containsCases: ContainsCase[] = [
    ...corpus.match_cases.map((c) => ({ text: c.text, keyword: c.keyword, alternatives: c.alternatives, origin: `match: ${c.why}` })),
    ...verdictTextCases(),
    ...CRAFTED,
    ...randomCases(),
  ];

  it('gives identical canonical text, tokens and verdicts on every case', () => {
    const answers = pythonCheck<TextAnswer>(
      reward.directory(),
      containsCases.map((c) => ({ text: c.text, keyword: c.keyword, alternatives: c.alternatives })),
    );
    expect(answers).toHaveLength(containsCases.length);
    const differences = containsCases.flatMap((c, index) => {
      const python = answers[index] as TextAnswer;
      const typescript = {
        canonical: canonicalText(c.text),
        tokens: matchTokens(c.text),
        contains: containsKeyword(c.text, c.keyword, c.alternatives),
      };
      return JSON.stringify(python) === JSON.stringify(typescript) ? [] : [{ case: c, python, typescript }];
    });
    expect(differences).toEqual([]);
    expect(containsCases.length).toBeGreaterThan(3000);
    // Both verdicts occur, so the agreement is not a matter of one constant answer.
    expect(new Set(answers.map((answer) => answer.contains)).size).toBe(2);
  });

  it('agrees with the corpus on every match case', () => {
    const answers = pythonCheck<TextAnswer>(reward.directory(), corpus.match_cases);
    expect(answers.map((answer) => answer.contains)).toEqual(corpus.match_cases.map((c) => c.expected));
  });

  it('gives every verdict case the keywords part the verifier matches: 1.0 exactly when the answer holds every keyword', () => {
    const cases = scoreCases();
    const ground = (c: ScoreCase) => JSON.stringify({ keywords: c.keywords, keyword_alternatives: c.alternatives, kind: 'SBK' });
    const scores = pythonCheck<{ keywords: number }>(
      reward.directory(),
      cases.map((c) => ({ response: c.response, ground_truth: ground(c) })),
    );
    const expected = cases.map((c) =>
      c.keywords.every((keyword, index) => containsKeyword(c.response, keyword, c.alternatives[index] ?? [])) ? 1 : 0,
    );
    expect(scores.map((score) => score.keywords)).toEqual(expected);
    expect(cases.length).toBeGreaterThan(50);
    expect(new Set(expected).size).toBe(2);
  });
});

describe('raiden_reward.py scores the answer only', () => {
  it('drops every think block (an unclosed one leaves no answer) and adds the format term only when asked', () => {
    const truth = JSON.stringify({ keywords: ['棒棒糖'], keyword_alternatives: [[]], kind: 'SBK' });
    const cases: [response: string, formatWeight: number, expected: number][] = [
      ['<think>他问我爱吃什么。</think>我就爱吃棒棒糖。', 0, 1],
      ['<think>我爱吃棒棒糖。</think>不告诉你。', 0, 0],
      ['<think>我爱吃棒棒糖，可是', 0, 0],
      // The chat template opened the block in the prompt: the completion starts inside it.
      ['想想……棒棒糖？\n</think>\n\n我就爱吃棒棒糖。', 0, 1],
      ['想想……棒棒糖？\n</think>\n\n不告诉你。', 0, 0],
      ['我就爱吃棒棒糖。', 0, 1],
      ['我就爱吃棒棒糖。', 0.2, 0.8],
      ['<think>嗯。</think>我就爱吃棒棒糖。', 0.2, 1],
      ['<think>嗯。</think>不告诉你。', 0.2, 0.2],
      ['<think>嗯。</think>', 0.2, 0],
      // Outside the leading position a think block still counts as thinking, not as the answer.
      ['嗯。<think>我就爱吃棒棒糖。</think>我不记得了。', 0, 0],
      ['<think>嗯。</think>不记得了。<think>棒棒糖</think>', 0, 0],
      ['<think>嗯。</think>我就爱吃棒棒糖。<think>再想想', 0, 1],
    ];
    const scores = pythonRun<number[]>(
      reward.directory(),
      'import raiden_reward\nprint(json.dumps([raiden_reward.compute_score("raiden/sbk", r, t, {}, format_weight=w)["score"] for r, t, w in json.load(sys.stdin)]))',
      cases.map(([response, weight]) => [response, truth, weight]),
    );
    scores.forEach((value, index) => expect(value, cases[index]?.[0]).toBeCloseTo(cases[index]?.[2] ?? NaN));
  });
});
