import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalText, containsKeyword, KEYWORD_RULES, matchTokens } from '../../../orchestrator/src/core/verify/keyword-match.ts';
import { corpus, verdictOf } from './keyword-corpus.ts';

const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u200e'];
const VARIANTS = Object.entries(KEYWORD_RULES.punctuation.variants).map(([canonical, variants]) => [canonical, ...variants]);

/** Zero-width and other invisible characters inserted at the chosen positions. */
function withInvisible(text: string, picks: readonly number[]): string {
  const chars = [...text];
  for (const [index, pick] of picks.entries()) chars.splice(pick % (chars.length + 1), 0, INVISIBLE[(pick + index) % INVISIBLE.length]!);
  return chars.join('');
}

/** ASCII characters at the chosen positions in their full-width form (what NFKC undoes). */
function widened(text: string, picks: readonly number[]): string {
  const chars = [...text];
  for (const pick of picks) {
    const index = pick % Math.max(1, chars.length);
    const code = chars[index]?.codePointAt(0) ?? 0;
    if (code > 0x20 && code < 0x7f) chars[index] = String.fromCodePoint(code + 0xfee0);
    else if (code === 0x20) chars[index] = '\u3000';
  }
  return chars.join('');
}

/** Every punctuation character with variants replaced by a chosen variant of its class. */
function punctuationSwapped(text: string, seed: number): string {
  let n = seed;
  return [...text]
    .map((char) => {
      const group = VARIANTS.find((variants) => variants.includes(char));
      if (group === undefined) return char;
      n = (n * 1103515245 + 12345) % 2 ** 31;
      return group[n % group.length]!;
    })
    .join('');
}

const picks = fc.array(fc.nat({ max: 10_000 }), { maxLength: 6 });
const transforms = fc.oneof(
  picks.map((p) => (text: string) => withInvisible(text, p)),
  picks.map((p) => (text: string) => widened(text, p)),
  fc.nat().map((seed) => (text: string) => punctuationSwapped(text, seed)),
);

describe('matching normalisation', () => {
  it('lists only punctuation variants that survive NFKC as their class', () => {
    for (const [canonical, ...variants] of VARIANTS)
      for (const variant of variants) expect(canonicalText(variant)).toBe(canonicalText(canonical!));
  });

  it('never changes a match when zero-width characters, width or punctuation variants change in the text or the keyword', () => {
    fc.assert(
      fc.property(fc.constantFrom(...corpus.match_cases), transforms, fc.boolean(), (c, transform, inKeyword) => {
        const text = inKeyword ? c.text : transform(c.text);
        const keyword = inKeyword ? transform(c.keyword) : c.keyword;
        expect(containsKeyword(text, keyword, c.alternatives)).toBe(c.expected);
      }),
      { numRuns: 400 },
    );
  });

  it('never changes a verdict when the answer changes that way', () => {
    fc.assert(
      fc.property(fc.constantFrom(...corpus.verdict_cases), transforms, (c, transform) => {
        const answer = transform(String(c.output.answer));
        expect(verdictOf(c, { ...c.output, answer })).toBe(verdictOf(c));
      }),
      { numRuns: 300 },
    );
  });

  it('tokenises numbers whole, CJK by character and Latin words folded', () => {
    expect(matchTokens('Mara’s 1,024 charts 与 三十五岁')).toEqual(['mara', '1024', 'chart', '与', '35', '岁']);
    expect(canonicalText('「青柠」、“豆豆”——二〇一二年')).toBe('"青柠","豆豆"--2012年');
  });
});
