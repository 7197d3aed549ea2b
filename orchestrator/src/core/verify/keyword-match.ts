/**
 * Whether a text contains a keyword: the one matching rule of the project, used by the verifier, the
 * quality gates and (ported, reading the same data file) the reward function of the trainer exports. It is
 * pure and needs no segmenter, so every port gets the same verdicts. Data: data/keyword-rules.json and
 * data/traditional-chinese.json.
 *
 * 1. Canonical text (canonicalText), in this order:
 *    a. Unicode NFKC (full-width letters and digits become ASCII, ｶ becomes カ);
 *    b. invisible code points (rules.invisible.ranges) are removed;
 *    c. lower case (JavaScript toLowerCase, Python str.lower);
 *    d. each traditional Chinese character with an entry in traditional-chinese.json becomes its simplified form;
 *    e. each punctuation variant (rules.punctuation.variants) becomes its canonical character;
 *    f. runs of CJK numerals that are unambiguously numbers become Arabic digits (rules.cjk_numerals);
 *    g. every run of whitespace becomes one space.
 * 2. Tokens (matchTokens), left to right over the canonical text:
 *    - a date: 1-4 digits, a separator (`.`, `/` or `-`), 1-2 digits, the same separator, 1-4 digits, not
 *      followed by a digit or by a separator and a digit: three number tokens without leading zeros, the
 *      separators dropped (03.03.1984 gives 3 3 1984, as 3/3/1984 does);
 *    - a number: ASCII digits, with `,ddd` thousands groups (the commas dropped) and `.d+` decimals kept;
 *    - a CJK character (rules.cjk.ranges): one token each, so CJK needs no spaces (王 桂兰 = 王桂兰);
 *    - a word: a run of other letters and combining marks (Unicode categories L and M); an ASCII word
 *      loses a possessive (`'s`, or a `'` after a final s, attached without space) and a simple plural
 *      (rules.latin);
 *    - any other character except whitespace: one token of its own.
 * 3. A text contains a form when the form's tokens occur in the text's tokens contiguously. So Latin words
 *    match whole (art is not in party), a number never matches inside a longer one (35 is not in 135 or
 *    1935), and CJK matches character by character; whether a CJK keyword is a whole word is checked where
 *    it is chosen (keyword-verifier.ts), because no segmenter available to every port splits names and
 *    dates reliably.
 * 4. A keyword with alternatives (equivalent written forms) is contained when any of its forms is.
 */
import { boundedMemo } from './bounded-memo.ts';
import rules from './data/keyword-rules.json' with { type: 'json' };
import traditional from './data/traditional-chinese.json' with { type: 'json' };

export const KEYWORD_RULES = rules;

function rangeTest(ranges: readonly (readonly string[])[]): (codePoint: number) => boolean {
  const bounds = ranges.map(([from = '0', to = '0']) => [parseInt(from, 16), parseInt(to, 16)] as const);
  return (codePoint) => bounds.some(([from, to]) => codePoint >= from && codePoint <= to);
}

const isInvisible = rangeTest(rules.invisible.ranges);
const isCjkCodePoint = rangeTest(rules.cjk.ranges);

const SIMPLIFIED = new Map<string, string>();
{
  const pairs = [...traditional.pairs];
  for (let index = 0; index + 1 < pairs.length; index += 2) SIMPLIFIED.set(pairs[index] as string, pairs[index + 1] as string);
}

const PUNCTUATION = new Map<string, string>();
for (const [canonical, variants] of Object.entries(rules.punctuation.variants))
  for (const variant of variants) PUNCTUATION.set(variant, canonical);

const DIGITS: Readonly<Record<string, number>> = rules.cjk_numerals.digits;
const UNITS: Readonly<Record<string, number>> = rules.cjk_numerals.units;
const LARGE_UNITS: Readonly<Record<string, number>> = rules.cjk_numerals.large_units;
const NUMERAL_RUN = new RegExp(`[${[...Object.keys(DIGITS), ...Object.keys(UNITS), ...Object.keys(LARGE_UNITS)].join('')}]+`, 'gu');

/** The value of a run of CJK numerals, or undefined when the run is not unambiguously a number. */
export function cjkNumeralValue(run: string): number | undefined {
  const chars = [...run];
  const hasUnit = chars.some((char) => char in UNITS || char in LARGE_UNITS);
  if (!hasUnit) {
    if (chars.length === 1 || chars.includes('两')) return undefined;
    if (!(chars.includes('〇') || chars.includes('零') || chars.length === 4)) return undefined;
    return Number(chars.map((char) => DIGITS[char]).join(''));
  }
  if (chars.length === 1) return undefined;
  let total = 0;
  let section = 0;
  let digit: number | undefined;
  let lastUnit = Infinity;
  let lastLarge = Infinity;
  for (const [index, char] of chars.entries()) {
    if (char in DIGITS) {
      const value = DIGITS[char] as number;
      if (value === 0) continue;
      if (digit !== undefined) return undefined;
      digit = value;
    } else if (char in UNITS) {
      const unit = UNITS[char] as number;
      if (digit === undefined) {
        if (!(unit === 10 && index === 0)) return undefined;
        digit = 1;
      }
      if (unit >= lastUnit) return undefined;
      section += digit * unit;
      lastUnit = unit;
      digit = undefined;
    } else {
      const unit = LARGE_UNITS[char] as number;
      section += digit ?? 0;
      if (section === 0 || unit >= lastLarge) return undefined;
      total += section * unit;
      lastLarge = unit;
      section = 0;
      lastUnit = Infinity;
      digit = undefined;
    }
  }
  if (chars[0] === '两' && !(chars[1] !== undefined && (chars[1] in UNITS || chars[1] in LARGE_UNITS))) return undefined;
  return total + section + (digit ?? 0);
}

/**
 * Every code point steps 1b, d and e change, as one precompiled class: the text is scanned once by the
 * regular expression engine and only those code points are replaced, instead of building the text again
 * code point by code point (that loop was a tenth of the orchestrator's CPU time per request).
 */
const CHANGED = new RegExp(
  `[${[
    ...rules.invisible.ranges.map(([from, to]) => `\\u{${from}}-\\u{${to}}`),
    ...[...SIMPLIFIED.keys(), ...PUNCTUATION.keys()].map((char) => `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`),
  ].join('')}]`,
  'gu',
);

function changedChar(char: string): string {
  if (isInvisible(char.codePointAt(0) ?? 0)) return '';
  const simplified = SIMPLIFIED.get(char) ?? char;
  return PUNCTUATION.get(simplified) ?? simplified;
}

/** Step 1: the canonical text every comparison works on. */
export function canonicalText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(CHANGED, changedChar)
    .replace(NUMERAL_RUN, (run) => {
      const value = cjkNumeralValue(run);
      return value === undefined ? run : String(value);
    })
    .replace(/\s+/gu, ' ')
    .trim();
}

const CJK_CLASS = `[${rules.cjk.ranges.map(([from, to]) => `\\u{${from}}-\\u{${to}}`).join('')}]`;
const DATE = '(\\d{1,4})([./-])(\\d{1,2})\\2(\\d{1,4})(?!\\d|[./-]\\d)';
const TOKEN = new RegExp(`${DATE}|(\\d+(?:,\\d{3}(?!\\d)|\\.\\d+)*)|(${CJK_CLASS})|((?:(?!${CJK_CLASS})[\\p{L}\\p{M}])+)|(\\S)`, 'gu');
const MIN_PLURAL = rules.latin.min_plural_length;
const KEEP_FINAL_S = rules.latin.keep_final_s;

function foldPlural(word: string): string {
  if (word.length < MIN_PLURAL || !/^[a-z]+$/u.test(word)) return word;
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s') && !KEEP_FINAL_S.some((ending) => word.endsWith(ending))) return word.slice(0, -1);
  return word;
}

export function isCjkChar(char: string): boolean {
  return isCjkCodePoint(char.codePointAt(0) ?? 0);
}

/** Step 2: the tokens of a text, folded for comparison. */
export function matchTokens(text: string): string[] {
  return [...recentTokensOf(text)];
}

/**
 * Tokens and keys of texts seen recently, the tokens shared read-only. One verdict asks for the same texts
 * many times (the question, keywords, field labels, names, turns): tokenising them again was a fifth of the
 * run's CPU time at 30,000 slots, and each tokenisation canonicalises the text again.
 */
const RECENT_TEXTS = 4096;

const recentTokensOf = boundedMemo(RECENT_TEXTS, (text): readonly string[] => Object.freeze(canonicalTokens(canonicalText(text))));

/** Step 2 on a text that is already canonical (canonicalText is idempotent): what matchTokens does after step 1. */
export function canonicalTokens(canonical: string): string[] {
  const raw: { text: string; kind: 'number' | 'word' | 'other'; start: number; end: number }[] = [];
  for (const match of canonical.matchAll(TOKEN)) {
    const [whole, first, , second, third, number, , letters] = match;
    const start = match.index;
    const end = start + whole.length;
    if (first !== undefined) {
      // A date written with dots, slashes or dashes (03.03.1984, 1984/3/3) is its three numbers, without leading zeros.
      for (const part of [first, second, third]) raw.push({ text: String(part).replace(/^0+(?=\d)/u, ''), kind: 'number', start, end });
    } else if (number !== undefined) raw.push({ text: number.replace(/,/gu, ''), kind: 'number', start, end });
    else raw.push({ text: whole, kind: letters !== undefined ? 'word' : 'other', start, end });
  }
  const tokens: string[] = [];
  for (let index = 0; index < raw.length; index++) {
    const token = raw[index] as (typeof raw)[number];
    const next = raw[index + 1];
    const after = raw[index + 2];
    if (token.kind === 'word' && next?.text === "'" && next.start === token.end) {
      if (after?.text === 's' && after.start === next.end && (raw[index + 3]?.kind !== 'word' || raw[index + 3]?.start !== after.end)) {
        tokens.push(foldPlural(token.text));
        index += 2;
        continue;
      }
      if (token.text.endsWith('s') && (after === undefined || after.start > next.end || after.kind !== 'word')) {
        tokens.push(foldPlural(token.text));
        index += 1;
        continue;
      }
    }
    tokens.push(token.kind === 'word' ? foldPlural(token.text) : token.text);
  }
  return tokens;
}

/** The tokens of a text as one string, space-delimited at both ends, for contiguous-token search. */
export const matchKey = boundedMemo(RECENT_TEXTS, (text): string => {
  const tokens = recentTokensOf(text);
  return tokens.length === 0 ? '' : ` ${tokens.join(' ')} `;
});

/** Step 3: whether the text behind `textKey` (from matchKey) contains `form`. */
export function keyContains(textKey: string, form: string): boolean {
  const formKey = matchKey(form);
  return formKey !== '' && textKey.includes(formKey);
}

/** Steps 3 and 4: whether `text` contains the keyword or one of its alternatives. */
export function containsKeyword(text: string, keyword: string, alternatives: readonly string[] = []): boolean {
  const key = matchKey(text);
  return [keyword, ...alternatives].some((form) => keyContains(key, form));
}

/** The numbers a text holds, in order, as canonical digit strings (三十五 and 35 both give "35"). */
export function numbersIn(text: string): string[] {
  return recentTokensOf(text).filter((token) => /^\d/u.test(token));
}
