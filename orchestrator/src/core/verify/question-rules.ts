/**
 * Rules about a sample's question and its keywords' other forms: which question types a question's
 * interrogatives fit, whether a question gives the keyword's value away in another form, and whether an
 * alternative is the same fact as its keyword.
 */
import guards from './data/answer-guards.json' with { type: 'json' };
import rules from './data/keyword-rules.json' with { type: 'json' };
import { numberValue } from './answer-guards.ts';
import { canonicalText, isCjkChar, matchKey, matchTokens } from './keyword-match.ts';
import type { QuestionType } from './sample.ts';

/** Interrogatives by their first token, so a question is scanned once, not once per interrogative. */
const INTERROGATIVES = new Map<string, { readonly tokens: readonly string[]; readonly types: readonly QuestionType[] }[]>();
for (const [phrase, types] of [...guards.interrogatives.en, ...guards.interrogatives.zh]) {
  const tokens = matchTokens(phrase as string);
  const first = tokens[0];
  if (first === undefined) continue;
  INTERROGATIVES.set(first, [...(INTERROGATIVES.get(first) ?? []), { tokens, types: types as QuestionType[] }]);
}

/**
 * The question types a question fits: those of every interrogative it holds, where an interrogative inside
 * a longer one counts only as the longer one (为什么 is why, not also 什么's what; how many is not also how);
 * empty when it holds none.
 */
export function questionTypesOf(question: string): ReadonlySet<QuestionType> {
  const tokens = matchTokens(question);
  const found: { start: number; end: number; types: readonly QuestionType[] }[] = [];
  for (const [start, token] of tokens.entries()) {
    for (const { tokens: phrase, types } of INTERROGATIVES.get(token) ?? []) {
      if (phrase.every((part, offset) => tokens[start + offset] === part)) found.push({ start, end: start + phrase.length, types });
    }
  }
  const inside = (a: (typeof found)[number], b: (typeof found)[number]) =>
    b !== a && b.start <= a.start && a.end <= b.end && b.end - b.start > a.end - a.start;
  return new Set(found.filter((match) => !found.some((other) => inside(match, other))).flatMap((match) => match.types));
}

const EN_UNITS: Readonly<Record<string, number>> = Object.fromEntries(
  'zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen'
    .split(' ')
    .map((word, value) => [word, value]),
);
const EN_TENS: Readonly<Record<string, number>> = Object.fromEntries(
  'twenty thirty forty fifty sixty seventy eighty ninety'.split(' ').map((word, index) => [word, 20 + 10 * index]),
);
const CJK_DIGITS: Readonly<Record<string, string>> = {
  〇: '0',
  零: '0',
  一: '1',
  二: '2',
  三: '3',
  四: '4',
  五: '5',
  六: '6',
  七: '7',
  八: '8',
  九: '9',
};
const DATE_UNITS = new Set(['年', '月', '日', '号', '岁']);

/**
 * Numbers written in words, which the matching leaves as words: English 0 to 99 (forty-one, forty one),
 * and CJK digits the canonical text keeps because alone they are ambiguous, read before a date or age unit
 * (六三年 is 63, 八月 is 8).
 */
function spelledIn(tokens: readonly string[]): string[] {
  const numbers: string[] = [];
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index] as string;
    if (EN_TENS[token] !== undefined) {
      const skip = tokens[index + 1] === '-' ? 1 : 0;
      const unit = EN_UNITS[tokens[index + 1 + skip] ?? ''];
      if (unit !== undefined && unit > 0 && unit < 10) {
        numbers.push(String(EN_TENS[token] + unit));
        index += 1 + skip;
      } else numbers.push(String(EN_TENS[token]));
    } else if (EN_UNITS[token] !== undefined) numbers.push(String(EN_UNITS[token]));
    else if (CJK_DIGITS[token] !== undefined) {
      let run = '';
      let end = index;
      while (CJK_DIGITS[tokens[end] ?? ''] !== undefined) run += CJK_DIGITS[tokens[end++] as string];
      if (DATE_UNITS.has(tokens[end] ?? '')) numbers.push(numberValue(run));
      index = end - 1;
    }
  }
  return numbers;
}

/** Every number a text holds, by value: digits (三十五 counts, as the matching reads it) and spelled numbers. */
function valuesIn(text: string): string[] {
  return valuesOfTokens(matchTokens(text));
}

function valuesOfTokens(tokens: readonly string[]): string[] {
  return [...tokens.filter((token) => /^\d/u.test(token)).map(numberValue), ...spelledIn(tokens)];
}

/** A four-digit year of the 20th or 21st century, which people also write with two digits ('84, 84年). */
function twoDigitYear(value: string): string | undefined {
  return /^(19|20)\d\d$/u.test(value) ? value.slice(2) : undefined;
}

/**
 * How a question gives the keyword's value away without holding its written form: the same number (三十五
 * for 35岁 reads as 35), or a year's last two digits written alone ('84 for 1984).
 */
export function valueLeak(question: string, forms: readonly string[]): string | undefined {
  const tokens = matchTokens(question);
  const questionNumbers = new Set(valuesOfTokens(tokens));
  const twoDigits = new Set([...tokens, ...spelledIn(tokens)].filter((value) => /^\d\d$/u.test(value)));
  for (const form of forms) {
    for (const number of valuesIn(form)) {
      if (questionNumbers.has(number)) return `the question holds the keyword's number ${number}`;
      const short = twoDigitYear(number);
      if (short !== undefined && twoDigits.has(short)) return `the question holds the year ${number} as '${short}`;
    }
  }
  return undefined;
}

const MONTHS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(guards.months).filter(([name]) => name !== '_about'),
) as Record<string, number>;
const STOP = new Set(rules.stop_words.en.map(canonicalText));

function numberSet(text: string): Set<string> {
  return new Set(valuesIn(text));
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

/** Whether `short` is `long` abbreviated: its characters in order, starting with long's first (St for Street, 北大 for 北京大学). */
function abbreviates(short: string, long: string): boolean {
  const chars = [...short];
  const whole = [...long];
  if (chars.length < 1 || chars.length >= whole.length || chars[0] !== whole[0]) return false;
  let at = 0;
  for (const char of whole) if (char === chars[at]) at++;
  return at === chars.length;
}

function wordsOf(text: string): string[] {
  return matchTokens(text).filter((token) => /^\p{L}/u.test(token));
}

/**
 * Whether an alternative is the keyword abbreviated: the initials of its words, with or without stop words
 * (NYC, UC); the same words with some abbreviated (Mott St. for Mott Street, Dr for Doctor); or, in CJK,
 * some of its characters in order from the first (北大 for 北京大学).
 */
function isAbbreviation(alternative: string, keyword: string): boolean {
  const words = wordsOf(keyword);
  const short = wordsOf(alternative);
  const letters = short.join('');
  const initials = [
    words.map((word) => [...word][0]).join(''),
    words
      .filter((word) => !STOP.has(word))
      .map((word) => [...word][0])
      .join(''),
  ];
  if (short.length === 1 && words.length > 1 && initials.includes(letters)) return true;
  if (short.length === words.length && short.length > 0 && !short.every((word) => isCjkChar(word))) {
    return short.every((word, index) => word === words[index] || abbreviates(word, words[index] as string));
  }
  const cjk = (text: string) => [...canonicalText(text)].filter(isCjkChar).join('');
  return cjk(alternative).length >= 2 && abbreviates(cjk(alternative), cjk(keyword));
}

function hasCjk(text: string): boolean {
  return [...canonicalText(text)].some(isCjkChar);
}

/**
 * Why an alternative is not the same fact as its keyword, or undefined when it is:
 * - never a contiguous part of the keyword (北京 for 北京大学 names something broader);
 * - numbers: the same values as the keyword's, spelled numbers included (forty-one, 一九九〇年八月), plus the
 *   month's number when the keyword names the month (03.03.1984 for 3 March 1984);
 * - without numbers: the keyword abbreviated (NYC, Mott St., 北大) or the name in the other script
 *   (Paris / 巴黎). Any other word is a different fact as far as rules can tell (Brittany for Brest).
 */
export function alternativeMismatch(alternative: string, keyword: string): string | undefined {
  const keywordKey = matchKey(keyword);
  const alternativeKey = matchKey(alternative);
  if (alternativeKey === keywordKey) return undefined;
  if (keywordKey.includes(alternativeKey)) {
    return 'is a part of the keyword, so it names something broader or different: give only the whole fact written another way';
  }
  const keywordNumbers = numberSet(keyword);
  const alternativeNumbers = numberSet(alternative);
  if (keywordNumbers.size > 0 || alternativeNumbers.size > 0) {
    if (sameSet(keywordNumbers, alternativeNumbers)) return undefined;
    const month = matchTokens(keyword).find((token) => MONTHS[token] !== undefined);
    if (month !== undefined && sameSet(new Set([...keywordNumbers, String(MONTHS[month])]), alternativeNumbers)) return undefined;
    return 'holds other numbers than the keyword, so it is another fact: give only the same fact written another way (35 / 三十五)';
  }
  if (hasCjk(alternative) !== hasCjk(keyword)) return undefined;
  if (isAbbreviation(alternative, keyword)) return undefined;
  return 'is neither the keyword abbreviated nor its name in the other script, so it may be another fact: give only forms of the same fact';
}
