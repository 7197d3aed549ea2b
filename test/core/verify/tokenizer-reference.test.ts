/**
 * The hand-written scanner and canonicaliser of keyword-match.ts against the definitions in its header
 * written as regular expressions (what they replaced): the same tokens and canonical text for random text
 * drawn from the characters where the rules have edges.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalText, canonicalTokens, cjkNumeralValue, KEYWORD_RULES } from '../../../orchestrator/src/core/verify/keyword-match.ts';
import { cjkRatio, textWeight } from '../../../orchestrator/src/core/verify/text-normalize.ts';
import traditional from '../../../orchestrator/src/core/verify/data/traditional-chinese.json' with { type: 'json' };

const rules = KEYWORD_RULES;
const CJK_CLASS = `[${rules.cjk.ranges.map(([from, to]) => `\\u{${from}}-\\u{${to}}`).join('')}]`;
const DATE = '(\\d{1,4})([./-])(\\d{1,2})\\2(\\d{1,4})(?!\\d|[./-]\\d)';
const TOKEN = new RegExp(`${DATE}|(\\d+(?:,\\d{3}(?!\\d)|\\.\\d+)*)|(${CJK_CLASS})|((?:(?!${CJK_CLASS})[\\p{L}\\p{M}])+)|(\\S)`, 'gu');

/** Step 2's raw tokens by the regular expression of the definition; the folding after it is shared code. */
function referenceRaw(text: string): { text: string; kind: string; start: number; end: number }[] {
  const raw: { text: string; kind: string; start: number; end: number }[] = [];
  for (const match of text.matchAll(TOKEN)) {
    const [whole, first, , second, third, number, , letters] = match;
    const start = match.index;
    const end = start + whole.length;
    if (first !== undefined) {
      for (const part of [first, second, third]) raw.push({ text: String(part).replace(/^0+(?=\d)/u, ''), kind: 'number', start, end });
    } else if (number !== undefined) raw.push({ text: number.replace(/,/gu, ''), kind: 'number', start, end });
    else raw.push({ text: whole, kind: letters !== undefined ? 'word' : 'other', start, end });
  }
  return raw;
}

/** Step 2's folding as the definition states it: a possessive ('s, or ' after a final s) and a simple plural. */
function referenceTokens(text: string): string[] {
  const raw = referenceRaw(text);
  const fold = (word: string) => {
    if (word.length < rules.latin.min_plural_length || !/^[a-z]+$/u.test(word)) return word;
    if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
    if (word.endsWith('s') && !rules.latin.keep_final_s.some((ending) => word.endsWith(ending))) return word.slice(0, -1);
    return word;
  };
  const tokens: string[] = [];
  for (let index = 0; index < raw.length; index++) {
    const token = raw[index]!;
    const next = raw[index + 1];
    const after = raw[index + 2];
    if (token.kind === 'word' && next?.text === "'" && next.start === token.end) {
      if (after?.text === 's' && after.start === next.end && (raw[index + 3]?.kind !== 'word' || raw[index + 3]?.start !== after.end)) {
        tokens.push(fold(token.text));
        index += 2;
        continue;
      }
      if (token.text.endsWith('s') && (after === undefined || after.start > next.end || after.kind !== 'word')) {
        tokens.push(fold(token.text));
        index += 1;
        continue;
      }
    }
    tokens.push(token.kind === 'word' ? fold(token.text) : token.text);
  }
  return tokens;
}

const SIMPLIFIED = new Map<string, string>();
{
  const pairs = [...traditional.pairs];
  for (let index = 0; index + 1 < pairs.length; index += 2) SIMPLIFIED.set(pairs[index] as string, pairs[index + 1] as string);
}
const PUNCTUATION = new Map<string, string>();
for (const [canonical, variants] of Object.entries(rules.punctuation.variants))
  for (const variant of variants) PUNCTUATION.set(variant, canonical);
const INVISIBLE = new RegExp(`[${rules.invisible.ranges.map(([from, to]) => `\\u{${from}}-\\u{${to}}`).join('')}]`, 'u');
const NUMERALS = [
  ...Object.keys(rules.cjk_numerals.digits),
  ...Object.keys(rules.cjk_numerals.units),
  ...Object.keys(rules.cjk_numerals.large_units),
];

/** Step 1 by its definition, code point by code point. */
function referenceCanonical(text: string): string {
  const replaced = [...text.normalize('NFKC').toLowerCase()]
    .map((char) => (INVISIBLE.test(char) ? '' : (PUNCTUATION.get(SIMPLIFIED.get(char) ?? char) ?? SIMPLIFIED.get(char) ?? char)))
    .join('');
  return replaced
    .replace(new RegExp(`[${NUMERALS.join('')}]+`, 'gu'), (run) => String(cjkNumeralValue(run) ?? run))
    .replace(/\s+/gu, ' ')
    .trim();
}

// Characters at the rules' edges: digits and date separators, thousands commas, apostrophes and s, letters
// with marks, CJK (BMP and astral), traditional characters, numerals, invisible code points, every kind of
// space, lone surrogates, emoji.
const EDGE_CHARS = [
  ...'한글가',
  ..."0123456789./-,'’sSaZéü",
  '\u0301',
  ...'王國體这三十五岁两〇万ｶカ々',
  '𠀀',
  '𠵾',
  ...[...SIMPLIFIED.keys()].slice(0, 20),
  ...[...PUNCTUATION.keys()],
  '\u200b',
  '\u00ad',
  '\ufeff',
  '\ufe0f',
  ' ',
  '\t',
  '\n',
  '\u00a0',
  '\u3000',
  '\u2028',
  '\ud800',
  '\udc00',
  '😀',
  '١',
  '²',
];
const edgeText = fc.array(fc.constantFrom(...EDGE_CHARS), { maxLength: 40 }).map((chars) => chars.join(''));
const anyText = fc.oneof(edgeText, fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));

describe('keyword-match scanner and canonicaliser against the definitions', () => {
  it('gives the raw tokens of the documented regular expression (through the same folding)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        // Without apostrophes no possessive is folded, so the tokens are the raw ones with plurals folded.
        const plain = text.replace(/['’]/gu, ' ');
        expect(canonicalTokens(plain)).toEqual(
          referenceRaw(plain).map((token) => (token.kind === 'word' ? (canonicalTokens(token.text)[0] ?? '') : token.text)),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the tokens of the definition, possessives and plurals folded, on canonical text with apostrophes', () => {
    const withApostrophes = fc
      .array(fc.constantFrom(...EDGE_CHARS, "'", "'", 's', ' ', 'cats', 'ies', 'boss', 'james'), { maxLength: 30 })
      .map((chars) => canonicalText(chars.join('')));
    fc.assert(
      fc.property(withApostrophes, (text) => {
        expect(canonicalTokens(text)).toEqual(referenceTokens(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the canonical text of the documented steps', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(canonicalText(text)).toBe(referenceCanonical(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('splits dates, numbers and words at the same places as the definition', () => {
    for (const text of [
      '03.03.1984',
      '1984/3/3',
      '12345/6/7',
      '1/234/5',
      '1.2.12345',
      '1,234,5678',
      '1,234.5.6',
      '3-3-1984-1',
      '1.2.3.4',
      '3.3.1984.5',
    ])
      expect(canonicalTokens(text)).toEqual(referenceRaw(text).map((token) => token.text));
  });

  it('counts CJK and non-space characters as the regular expressions of text-normalize did', () => {
    const CJK = /[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]/gu;
    const referenceRatio = (text: string) => {
      const letters = text.replace(/\s+/gu, '').length;
      return letters === 0 ? 0 : (text.match(CJK)?.length ?? 0) / letters;
    };
    fc.assert(
      fc.property(anyText, (text) => {
        expect(cjkRatio(text)).toBe(referenceRatio(text));
        expect(textWeight(text).cjk).toBe(text.match(CJK)?.length ?? 0);
      }),
      { numRuns: 3000 },
    );
  });
});
