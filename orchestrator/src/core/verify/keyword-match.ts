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
 * Every code point steps 1b, d and e change, as a table: the text is scanned once by code unit and only
 * those code points are replaced, instead of building the text again code point by code point (that loop
 * was a tenth of the orchestrator's CPU time per request) or matching a class of 3,000 code points (as a
 * regular expression it cost 150 us per 1,000 CJK characters).
 */
const CHANGED_BMP = new Uint8Array(0x10000);
const CHANGED_ASTRAL = new Set<number>();
for (const char of [...SIMPLIFIED.keys(), ...PUNCTUATION.keys()]) {
  const codePoint = char.codePointAt(0) ?? 0;
  if (codePoint > 0xffff) CHANGED_ASTRAL.add(codePoint);
  else CHANGED_BMP[codePoint] = 1;
}
for (let codePoint = 0; codePoint <= 0xffff; codePoint++) if (isInvisible(codePoint)) CHANGED_BMP[codePoint] = 1;

function changedChar(char: string): string {
  if (isInvisible(char.codePointAt(0) ?? 0)) return '';
  const simplified = SIMPLIFIED.get(char) ?? char;
  return PUNCTUATION.get(simplified) ?? simplified;
}

/** Steps 1b, d and e on a text: the same text when nothing in it changes. */
function replaceChanged(text: string): string {
  let out = '';
  let copiedTo = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    let width = 1;
    if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
      const low = text.charCodeAt(index + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        width = 2;
        const codePoint = (unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
        if (!CHANGED_ASTRAL.has(codePoint) && !isInvisible(codePoint)) {
          index++;
          continue;
        }
      } else if (CHANGED_BMP[unit] === 0) continue;
    } else if (CHANGED_BMP[unit] === 0) continue;
    out += text.slice(copiedTo, index) + changedChar(text.slice(index, index + width));
    index += width - 1;
    copiedTo = index + 1;
  }
  return copiedTo === 0 ? text : out + text.slice(copiedTo);
}

/** Step 1: the canonical text every comparison works on. */
export function canonicalText(text: string): string {
  return replaceChanged(text.normalize('NFKC').toLowerCase())
    .replace(NUMERAL_RUN, (run) => {
      const value = cjkNumeralValue(run);
      return value === undefined ? run : String(value);
    })
    .replace(/\s+/gu, ' ')
    .trim();
}

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

/** A token of step 2 before plurals and possessives are folded, with where it stands in the text. */
interface RawToken {
  readonly text: string;
  readonly kind: 'number' | 'word' | 'other';
  readonly start: number;
  readonly end: number;
}

/** JavaScript's \s: the code points that separate tokens and are no token themselves. */
const SPACES = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff];
const LETTER_OR_MARK = /[\p{L}\p{M}]/u;

/** What a code point starts in step 2's scan. */
const enum CharClass {
  Unknown = 0,
  Space,
  Digit,
  Cjk,
  Word,
  Other,
}

/** The class of each BMP code point, filled in as code points are met (the letter test is a regular expression). */
const BMP_CLASS = new Uint8Array(0x10000);
for (const space of [...SPACES, ...Array.from({ length: 11 }, (_, offset) => 0x2000 + offset)]) BMP_CLASS[space] = CharClass.Space;
for (let digit = 0x30; digit <= 0x39; digit++) BMP_CLASS[digit] = CharClass.Digit;
for (const [from = '0', to = '0'] of rules.cjk.ranges)
  for (let codePoint = parseInt(from, 16); codePoint <= Math.min(parseInt(to, 16), 0xffff); codePoint++)
    BMP_CLASS[codePoint] = CharClass.Cjk;

/** Whether a UTF-16 code unit is one of JavaScript's \s (every one of them is a single code unit). */
export function isSpaceUnit(unit: number): boolean {
  return BMP_CLASS[unit] === CharClass.Space;
}

function charClass(codePoint: number): CharClass {
  if (codePoint > 0xffff) {
    if (isCjkCodePoint(codePoint)) return CharClass.Cjk;
    return LETTER_OR_MARK.test(String.fromCodePoint(codePoint)) ? CharClass.Word : CharClass.Other;
  }
  let known = BMP_CLASS[codePoint] as CharClass;
  if (known === CharClass.Unknown) {
    known = LETTER_OR_MARK.test(String.fromCharCode(codePoint)) ? CharClass.Word : CharClass.Other;
    BMP_CLASS[codePoint] = known;
  }
  return known;
}

function isDigitAt(text: string, at: number): boolean {
  const unit = text.charCodeAt(at);
  return unit >= 0x30 && unit <= 0x39;
}

/** Where the run of ASCII digits starting at `at` ends. */
function digitsEnd(text: string, at: number): number {
  let end = at;
  while (isDigitAt(text, end)) end++;
  return end;
}

const SEPARATORS = './-';

/** The end of a date (step 2) starting at `at`, or -1: 1-4 digits, a separator, 1-2 digits, the same separator, 1-4 digits, not followed by a digit or by a separator and a digit. */
function dateEnd(text: string, at: number): number {
  const firstEnd = digitsEnd(text, at);
  const separator = text[firstEnd] ?? '';
  if (firstEnd - at > 4 || separator === '' || !SEPARATORS.includes(separator)) return -1;
  const secondEnd = digitsEnd(text, firstEnd + 1);
  if (secondEnd - firstEnd - 1 < 1 || secondEnd - firstEnd - 1 > 2 || text[secondEnd] !== separator) return -1;
  const thirdEnd = digitsEnd(text, secondEnd + 1);
  if (thirdEnd - secondEnd - 1 < 1 || thirdEnd - secondEnd - 1 > 4) return -1;
  const after = text[thirdEnd] ?? '';
  if (after !== '' && SEPARATORS.includes(after) && isDigitAt(text, thirdEnd + 1)) return -1;
  return thirdEnd;
}

/** The end of a number (step 2) starting at `at`: digits, then `,ddd` groups and `.d+` decimals. */
function numberEnd(text: string, at: number): number {
  let end = digitsEnd(text, at);
  for (;;) {
    if (text[end] === ',' && digitsEnd(text, end + 1) === end + 4) end += 4;
    else if (text[end] === '.' && isDigitAt(text, end + 1)) end = digitsEnd(text, end + 1);
    else return end;
  }
}

/**
 * Step 2's scan, left to right: at each code point that is no space, a date, a number, a CJK character, a
 * word or one other character, the first that fits. A hand-written scanner: as one regular expression over
 * the text it cost 100 us per 1,000 characters of English and three times that of Chinese.
 */
function scanTokens(text: string, emit: (token: RawToken) => void): void {
  let at = 0;
  while (at < text.length) {
    const codePoint = text.codePointAt(at) as number;
    const width = codePoint > 0xffff ? 2 : 1;
    const kind = charClass(codePoint);
    if (kind === CharClass.Space) {
      at += width;
    } else if (kind === CharClass.Digit) {
      const date = dateEnd(text, at);
      if (date >= 0) {
        const firstEnd = digitsEnd(text, at);
        const secondEnd = digitsEnd(text, firstEnd + 1);
        for (const [from, to] of [
          [at, firstEnd],
          [firstEnd + 1, secondEnd],
          [secondEnd + 1, date],
        ] as const)
          emit({ text: text.slice(from, to).replace(/^0+(?=\d)/u, ''), kind: 'number', start: at, end: date });
        at = date;
      } else {
        const end = numberEnd(text, at);
        emit({ text: text.slice(at, end).replace(/,/gu, ''), kind: 'number', start: at, end });
        at = end;
      }
    } else if (kind === CharClass.Word) {
      let end = at + width;
      while (end < text.length) {
        const next = text.codePointAt(end) as number;
        if (charClass(next) !== CharClass.Word) break;
        end += next > 0xffff ? 2 : 1;
      }
      emit({ text: text.slice(at, end), kind: 'word', start: at, end });
      at = end;
    } else {
      // A CJK character, or any other character that is no space: one token each.
      emit({ text: text.slice(at, at + width), kind: 'other', start: at, end: at + width });
      at += width;
    }
  }
}

/** Step 2 on a text that is already canonical (canonicalText is idempotent): what matchTokens does after step 1. */
export function canonicalTokens(canonical: string): string[] {
  const tokens: string[] = [];
  // Without an apostrophe there is no possessive to fold: each raw token is a token.
  if (!canonical.includes("'")) {
    scanTokens(canonical, (token) => tokens.push(token.kind === 'word' ? foldPlural(token.text) : token.text));
    return tokens;
  }
  const raw: RawToken[] = [];
  scanTokens(canonical, (token) => raw.push(token));
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

/** Texts longer than this (a profile, a whole conversation) are remembered apart from the short ones. */
const LONG_TEXT = 256;
const RECENT_LONG_TEXTS = 1024;

function keyOfTokens(tokens: readonly string[]): string {
  return tokens.length === 0 ? '' : ` ${tokens.join(' ')} `;
}

const recentShortKeys = boundedMemo(RECENT_TEXTS, (text): string => keyOfTokens(recentTokensOf(text)));
// A profile is asked for by every verdict of its slots: the many short texts of those verdicts (keywords,
// rivals, turns) must not push it out, or it is tokenised again per verdict.
const recentLongKeys = boundedMemo(RECENT_LONG_TEXTS, (text): string => keyOfTokens(canonicalTokens(canonicalText(text))));

/** The tokens of a text as one string, space-delimited at both ends, for contiguous-token search. */
export function matchKey(text: string): string {
  return text.length > LONG_TEXT ? recentLongKeys(text) : recentShortKeys(text);
}

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
