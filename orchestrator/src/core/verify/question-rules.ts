/**
 * Rules about a sample's question and its keywords' other forms: which question types a question's
 * interrogatives fit, whether a question gives the keyword's value away in another form, and whether an
 * alternative is the same fact as its keyword.
 */
import guards from './data/answer-guards.json' with { type: 'json' };
import rules from './data/keyword-rules.json' with { type: 'json' };
import { numberValue } from './answer-guards.ts';
import { canonicalText, isCjkChar, keyContains, matchKey, matchTokens, numbersIn } from './keyword-match.ts';
import type { QuestionType } from './sample.ts';

const INTERROGATIVES = [...guards.interrogatives.en, ...guards.interrogatives.zh].map(
  ([phrase, types]) => [matchKey(phrase as string), new Set(types as QuestionType[])] as const,
);

/** The question types a question fits: those of every interrogative it holds; empty when it holds none. */
export function questionTypesOf(question: string): ReadonlySet<QuestionType> {
  const key = matchKey(question);
  const types = new Set<QuestionType>();
  for (const [phrase, fits] of INTERROGATIVES) if (key.includes(phrase)) for (const type of fits) types.add(type);
  return types;
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
  const questionTokens = matchTokens(question);
  const questionNumbers = new Set(questionTokens.filter((token) => /^\d/u.test(token)).map(numberValue));
  const twoDigits = new Set(questionTokens.filter((token) => /^\d\d$/u.test(token)));
  for (const form of forms) {
    for (const number of numbersIn(form).map(numberValue)) {
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
  return new Set(numbersIn(text).map(numberValue));
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

/** The initials of a phrase's words, with and without its stop words (University of California: uoc, uc). */
function initials(text: string): string[] {
  const words = matchTokens(text).filter((token) => /^\p{L}/u.test(token) && !isCjkChar(token));
  return [
    words.map((word) => word[0]).join(''),
    words
      .filter((word) => !STOP.has(word))
      .map((word) => word[0])
      .join(''),
  ];
}

function hasCjk(text: string): boolean {
  return [...canonicalText(text)].some(isCjkChar);
}

/**
 * Why an alternative is not the same fact as its keyword, or undefined when it is:
 * - numbers: its numbers are the keyword's (as a set, 03 as 3), plus the month's number when the keyword
 *   names the month (03.03.1984 for 3 March 1984);
 * - never a contiguous part of the keyword (北京 for 北京大学 names something broader);
 * - without numbers: the keyword's initials (NYC for New York City), the same name in the other script
 *   (Paris / 巴黎), or words of the source (profile or conversation) that stand beside no other value:
 *   an alternative that is a value of its own in the source (Brittany beside Brest) is another fact.
 */
export function alternativeMismatch(
  alternative: string,
  keyword: string,
  source: string,
  sourceValues: ReadonlySet<string>,
): string | undefined {
  const keywordKey = matchKey(keyword);
  const alternativeKey = matchKey(alternative);
  if (alternativeKey !== keywordKey && keywordKey.includes(alternativeKey)) {
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
  const letters = canonicalText(alternative).replace(/[^\p{L}]/gu, '');
  if (letters.length >= 2 && initials(keyword).includes(letters)) return undefined;
  if (!keyContains(matchKey(source), alternative)) {
    return "is neither in the source nor the keyword's initials or another script, so it may be another fact: give only forms of the same fact";
  }
  if (sourceValues.has(alternativeKey)) {
    return 'is a value of its own in the source, so it is another fact: give only forms of the same fact';
  }
  return undefined;
}
