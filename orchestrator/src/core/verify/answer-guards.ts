/**
 * Whether an answer that holds the keywords is still wrong: it denies the fact, hedges between values,
 * names the CM distractor, recites the profile, runs far longer than the reference, answers in the other
 * language or steps out of character. One definition for the verifier (a generated sample) and the reward
 * (a policy's completion); raiden_reward.py ports `answerText`, `guardFailures` and `rewardParts` step by
 * step and reads the same data (data/answer-guards.json), and the parity suite runs both on every case.
 *
 * What a guard may look at is fixed in a GuardTruth: computed once in TypeScript (guardTruth), shipped in
 * an export's ground truth, so the Python port only evaluates it.
 *
 * Rules, on the tokens of keyword-match.ts (matchTokens) of the answer:
 * 1. answer: every `<think>…</think>` block is dropped wherever it stands; a `</think>` before any
 *    `<think>` ends a block the chat template opened, so what precedes it is dropped; text after an
 *    unclosed `<think>` is no answer; stray `</think>` tags are removed.
 * 2. negation: an occurrence of a keyword form is negated when a cue (data negation.en/zh, or an English
 *    word ending in n followed by ' t) lies within negation.window_tokens tokens before it, after the last
 *    clause boundary. One negated occurrence fails the answer.
 * 3. hedge: every number of the answer of a kind a keyword number has (numberKind: an age, a year, a
 *    month, a day, a number with the same unit, a plain number) is one of truth.allowed_numbers (the
 *    keywords' and the question's); no doubt word within hedge.window_tokens tokens of a keyword, and no
 *    choice word after one, in its sentence; and no rival value in an answer that holds either anywhere.
 * 4. distractor (CM): no distractor form (the distractor and each distinctive part of it) in the answer.
 * 5. recital: at most recital.max_rivals distinct rival values (the user's other words; profile phrases).
 * 6. length (when truth.reference_answer is given): at most max(floor_chars, multiple x its code points).
 * 7. language: outside keyword occurrences, a zh answer has at least as many CJK tokens as Latin words and
 *    at least one; an en answer more Latin words than CJK tokens; an answer with neither passes.
 * 8. in_character: no out-of-character phrase, except those in truth.in_character.
 */
import { boundedMemo } from './bounded-memo.ts';
import guards from './data/answer-guards.json' with { type: 'json' };
import rules from './data/keyword-rules.json' with { type: 'json' };
import { canonicalText, canonicalTokens, isCjkChar, keyContains, matchKey, matchTokens, numbersIn } from './keyword-match.ts';
import type { Language } from './language.ts';
import type { SampleKind } from './sample.ts';

export const ANSWER_GUARDS = guards;

export type GuardName = 'negation' | 'hedge' | 'distractor' | 'recital' | 'length' | 'language' | 'in_character';

/** Everything a guard needs besides the answer: written into an export's ground truth as it is. */
export interface GuardTruth {
  readonly keywords: readonly string[];
  readonly keyword_alternatives: readonly (readonly string[])[];
  readonly kind: SampleKind;
  readonly language: Language;
  /** CM: the distractor and its distinctive parts; none may be in the answer. */
  readonly distractors: readonly string[];
  /** Other values a reciting or hedging answer would name: the user's other words (CM), then the profile's phrases. */
  readonly rivals: readonly string[];
  /** Canonical numbers a right answer may hold (the keywords' and the question's). */
  readonly allowed_numbers: readonly string[];
  /** Out-of-character phrases this profile itself uses (a robot's profile): allowed for it. */
  readonly in_character: readonly string[];
  /** The accepted answer: bounds a completion's length. Absent when the answer under test is the reference. */
  readonly reference_answer?: string;
}

export interface GuardFailure {
  readonly guard: GuardName;
  readonly detail: string;
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/** Rule 1: the part of a completion that is the reply. */
export function answerText(completion: string): string {
  let text = completion;
  const firstClose = text.indexOf(THINK_CLOSE);
  const firstOpen = text.indexOf(THINK_OPEN);
  if (firstClose >= 0 && (firstOpen < 0 || firstClose < firstOpen)) text = text.slice(firstClose + THINK_CLOSE.length);
  for (let open = text.indexOf(THINK_OPEN); open >= 0; open = text.indexOf(THINK_OPEN)) {
    const close = text.indexOf(THINK_CLOSE, open + THINK_OPEN.length);
    if (close < 0) {
      text = text.slice(0, open);
      break;
    }
    text = text.slice(0, open) + text.slice(close + THINK_CLOSE.length);
  }
  return text.split(THINK_CLOSE).join('').trim();
}

/** A canonical number token without leading zeros (03 and 3 are one value). */
export function numberValue(token: string): string {
  return token.replace(/^0+(?=\d)/u, '');
}

function keywordForms(truth: Pick<GuardTruth, 'keywords' | 'keyword_alternatives'>): string[][] {
  return truth.keywords.map((keyword, index) => [keyword, ...(truth.keyword_alternatives[index] ?? [])]);
}

/** Start indexes of `part` as a contiguous run in `tokens`. */
export function occurrences(tokens: readonly string[], part: readonly string[]): number[] {
  const found: number[] = [];
  if (part.length === 0) return found;
  for (let start = 0; start + part.length <= tokens.length; start++) {
    if (part.every((token, offset) => tokens[start + offset] === token)) found.push(start);
  }
  return found;
}

const CLAUSE_BOUNDARIES = new Set(guards.negation.clause_boundaries);
const NEGATION_CUES = [...guards.negation.en, ...guards.negation.zh].map((cue) => matchTokens(cue));

/** Whether a negation cue stands in the window before `at`, inside the clause. */
function negatedAt(tokens: readonly string[], at: number): boolean {
  let from = at;
  while (from > 0 && at - from < guards.negation.window_tokens && !CLAUSE_BOUNDARIES.has(tokens[from - 1] as string)) from--;
  const window = tokens.slice(from, at);
  const contraction = window.some((token, index) => /^[a-z]*n$/u.test(token) && window[index + 1] === "'" && window[index + 2] === 't');
  return contraction || cueIn(window, NEGATION_CUES) !== undefined;
}

/** Whether the text behind `textKey` contains the short text `form` (keyContains with a lasting key cache). */
function holds(textKey: string, form: string): boolean {
  const formKey = matchKey(form);
  return formKey !== '' && textKey.includes(formKey);
}

const HEDGE_WORDS = [...guards.hedge.doubt.en, ...guards.hedge.doubt.zh, ...guards.hedge.choice.en, ...guards.hedge.choice.zh];
const HEDGE_CUES = HEDGE_WORDS.map((cue) => matchKey(cue));
const DOUBT_TOKENS = [...guards.hedge.doubt.en, ...guards.hedge.doubt.zh].map((cue) => matchTokens(cue));
const CHOICE_TOKENS = [...guards.hedge.choice.en, ...guards.hedge.choice.zh].map((cue) => matchTokens(cue));
const SENTENCE_BOUNDARIES = new Set(guards.hedge.sentence_boundaries);

/** The first cue of `cues` that occurs in `window`, joined, if any. */
function cueIn(window: readonly string[], cues: readonly (readonly string[])[]): string | undefined {
  for (let index = 0; index < window.length; index++) {
    const cue = cues.find(
      (parts) => index + parts.length <= window.length && parts.every((part, offset) => window[index + offset] === part),
    );
    if (cue !== undefined) return cue.join('');
  }
  return undefined;
}

/** A doubt word within hedge.window_tokens tokens of a keyword span, or a choice word after it, in its sentence. */
function hedgeCueNear(tokens: readonly string[], [start, end]: readonly [number, number]): string | undefined {
  let from = start;
  while (from > 0 && start - from < guards.hedge.window_tokens && !SENTENCE_BOUNDARIES.has(tokens[from - 1] as string)) from--;
  let to = end;
  while (to < tokens.length && to - end < guards.hedge.window_tokens && !SENTENCE_BOUNDARIES.has(tokens[to] as string)) to++;
  const before = tokens.slice(from, start);
  const after = tokens.slice(end, to);
  return cueIn(before, DOUBT_TOKENS) ?? cueIn(after, DOUBT_TOKENS) ?? cueIn(after, CHOICE_TOKENS);
}

const MONTH_NAMES = new Set(Object.keys(guards.months).filter((name) => name !== '_about'));
const NUMBER_UNITS = guards.numbers;

/** Data numbers._about: what a number in a text is, from the tokens around it. */
export function numberKind(tokens: readonly string[], at: number): string {
  const token = tokens[at] as string;
  const next = tokens[at + 1] ?? '';
  const previous = tokens[at - 1] ?? '';
  if (NUMBER_UNITS.age_units.includes(next) || (next === 'year' && tokens[at + 2] === 'old')) return 'age';
  if (NUMBER_UNITS.year_units.includes(next)) return 'year';
  if (NUMBER_UNITS.month_units.includes(next)) return 'month';
  if (NUMBER_UNITS.day_units.includes(next)) return 'day';
  const unit = isWordToken(next) || isCjkToken(next);
  if (/^\d{4}$/u.test(token) && Number(token) >= 1000 && Number(token) <= 2999 && (!unit || MONTH_NAMES.has(next))) return 'year';
  if (MONTH_NAMES.has(previous) || MONTH_NAMES.has(next)) return 'day';
  return unit ? `unit:${next}` : 'plain';
}

/** The kinds of the numbers in a text. */
function numberKinds(text: string): Set<string> {
  const tokens = matchTokens(text);
  return new Set(tokens.flatMap((token, index) => (/^\d/u.test(token) ? [numberKind(tokens, index)] : [])));
}
const OUT_OF_CHARACTER = [...guards.out_of_character.en, ...guards.out_of_character.zh];
const OUT_OF_CHARACTER_CANONICAL = new Map(OUT_OF_CHARACTER.map((phrase) => [phrase, canonicalText(phrase)]));

function isCjkToken(token: string): boolean {
  const codePoint = token.codePointAt(0) ?? 0;
  return token.length === (codePoint > 0xffff ? 2 : 1) && isCjkChar(token);
}

const LETTER_START = /^\p{L}/u;

function isWordToken(token: string): boolean {
  const first = token.charCodeAt(0);
  if (first < 0x80) return (first >= 0x61 && first <= 0x7a) || (first >= 0x41 && first <= 0x5a);
  return LETTER_START.test(token) && !isCjkToken(token);
}

/** Rules 2 to 8: each guard the answer fails, with what it found. `answer` is already answerText(...). */
export function guardFailures(answer: string, truth: GuardTruth): GuardFailure[] {
  const failures: GuardFailure[] = [];
  const tokens = matchTokens(answer);
  const key = tokens.length === 0 ? '' : ` ${tokens.join(' ')} `;
  const forms = keywordForms(truth);
  const spans: [number, number, string][] = [];
  for (const form of forms.flat()) {
    const formTokens = matchTokens(form);
    for (const at of occurrences(tokens, formTokens)) spans.push([at, at + formTokens.length, form]);
  }

  const negated = spans.find(([at]) => negatedAt(tokens, at));
  if (negated !== undefined) failures.push({ guard: 'negation', detail: `denies the keyword ${JSON.stringify(negated[2])}` });

  const allowed = new Set(truth.allowed_numbers.map(numberValue));
  // The fact's kinds: of the keyword's numbers as written, and as the answer writes them (62 said as 62岁).
  const kinds = new Set(forms.flat().flatMap((form) => [...numberKinds(form)]));
  for (const [start, end] of spans)
    for (let at = start; at < end; at++) if (/^\d/u.test(tokens[at] as string)) kinds.add(numberKind(tokens, at));
  const others = [
    ...new Set(tokens.flatMap((token, index) => (/^\d/u.test(token) && kinds.has(numberKind(tokens, index)) ? [numberValue(token)] : []))),
  ].filter((value) => !allowed.has(value));
  const rivalsFound = [...new Set(truth.rivals.filter((rival) => holds(key, rival)))];
  const hedged = HEDGE_CUES.some((cue) => cue !== '' && key.includes(cue));
  const nearCue = spans.map(([start, end]) => hedgeCueNear(tokens, [start, end])).find((cue) => cue !== undefined);
  if (others.length > 0) failures.push({ guard: 'hedge', detail: `holds other values of the fact's kind: ${others.join(', ')}` });
  else if (nearCue !== undefined) failures.push({ guard: 'hedge', detail: `offers a choice or a doubt ("${nearCue}") beside the keyword` });
  else if (hedged && rivalsFound.length > 0)
    failures.push({ guard: 'hedge', detail: `offers a choice with ${JSON.stringify(rivalsFound[0])}` });

  const distractor = truth.distractors.find((form) => holds(key, form));
  if (distractor !== undefined) failures.push({ guard: 'distractor', detail: `names the distractor (${JSON.stringify(distractor)})` });

  if (rivalsFound.length > guards.recital.max_rivals) {
    failures.push({
      guard: 'recital',
      detail: `names ${rivalsFound.length} other values (${rivalsFound
        .slice(0, 3)
        .map((rival) => JSON.stringify(rival))
        .join(', ')}, ...)`,
    });
  }

  if (truth.reference_answer !== undefined) {
    const limit = Math.max(guards.length.floor_chars, guards.length.multiple * [...truth.reference_answer].length);
    const length = [...answer].length;
    if (length > limit) failures.push({ guard: 'length', detail: `has ${length} characters; at most ${limit}` });
  }

  const inKeyword = new Set(spans.flatMap(([from, to]) => Array.from({ length: to - from }, (_, offset) => from + offset)));
  let cjk = 0;
  let words = 0;
  for (const [index, token] of tokens.entries()) {
    if (inKeyword.has(index)) continue;
    if (isCjkToken(token)) cjk++;
    else if (isWordToken(token)) words++;
  }
  if (cjk + words > 0 && (truth.language === 'zh' ? cjk < words || cjk === 0 : words <= cjk)) {
    failures.push({
      guard: 'language',
      detail: `is not written in ${truth.language === 'zh' ? 'Chinese' : 'English'} (${cjk} CJK characters, ${words} Latin words)`,
    });
  }

  const allowedPhrases = new Set(truth.in_character.map((phrase) => OUT_OF_CHARACTER_CANONICAL.get(phrase) ?? canonicalText(phrase)));
  const outOfCharacter = OUT_OF_CHARACTER.find(
    (phrase) => !allowedPhrases.has(OUT_OF_CHARACTER_CANONICAL.get(phrase) as string) && holds(key, phrase),
  );
  if (outOfCharacter !== undefined) failures.push({ guard: 'in_character', detail: `steps out of character ("${outOfCharacter}")` });
  return failures;
}

/** What a sample's guards are judged against, built from what the generator saw. */
export interface GuardSource {
  readonly kind: SampleKind;
  readonly language: Language;
  readonly keywords: readonly string[];
  readonly keyword_alternatives: readonly (readonly string[])[];
  readonly question: string;
  readonly profileText: string;
  /** Names of the character: never a rival (an answer may say who it is). */
  readonly names: readonly string[];
  readonly fieldLabels: readonly string[];
  readonly conversation: readonly { readonly role: string; readonly content: string }[];
  readonly distractor?: string | undefined;
  readonly referenceAnswer?: string;
  /**
   * The one answer the truth will judge (the verifier's case): rivals it does not hold can never count, so
   * only those it holds are kept. Leave it out for a truth that judges any completion (an export's).
   */
  readonly onlyFor?: string;
}

const PHRASE_SPLIT = /[,.;:!?"()[\]{}<>|/\\\n]+/u;
const STOP = new Set(
  [...rules.stop_words.en, ...rules.stop_words.zh, ...rules.generic_words.en, ...rules.generic_words.zh].map(canonicalText),
);
const MAX_RIVALS = 200;

/** The short phrases of a text (lines, clauses and list items), canonical and in order, with their keys: the values it names. */
function phrasesOf(text: string): Phrase[] {
  const phrases: Phrase[] = [];
  for (const line of text.split(/[\r\n]+/u)) {
    for (const part of canonicalText(line).split(PHRASE_SPLIT)) {
      const phrase = part.trim();
      // A part of a canonical text is canonical: tokenised as it is, never canonicalised again.
      const tokens = canonicalTokens(phrase);
      if (tokens.length === 0 || tokens.length > guards.recital.max_phrase_tokens || STOP.has(phrase)) continue;
      const cjk = tokens.filter(isCjkToken).length;
      const letters = tokens.filter(isWordToken).join('').length;
      if (
        cjk >= guards.recital.min_phrase_cjk ||
        letters >= guards.recital.min_phrase_letters ||
        tokens.some((token) => /^\d/u.test(token))
      )
        phrases.push({ text: phrase, key: ` ${tokens.join(' ')} ` });
    }
  }
  return phrases;
}

interface Phrase {
  readonly text: string;
  readonly key: string;
}

/**
 * A profile's phrases and the out-of-character phrases it uses, worked out once per profile text: every
 * verdict of the profile's slots needs them, and tokenising a 1 KB profile per verdict was most of the
 * verifier's CPU time.
 */
const factsOf = boundedMemo(1024, (profileText): { readonly phrases: readonly Phrase[]; readonly inCharacter: readonly string[] } => {
  const key = matchKey(profileText);
  return { phrases: phrasesOf(profileText), inCharacter: OUT_OF_CHARACTER.filter((phrase) => holds(key, phrase)) };
});

/** Distinctive parts of a distractor: its Latin words of three letters or more that are no stop word, its numbers, each pair of adjacent CJK characters. */
function distractorParts(distractor: string): string[] {
  const tokens = matchTokens(distractor);
  const parts: string[] = [];
  for (const [index, token] of tokens.entries()) {
    if (/^\d/u.test(token)) parts.push(token);
    else if (isWordToken(token) && token.length >= rules.min_length.letters && !STOP.has(token)) parts.push(token);
    const next = tokens[index + 1];
    if (isCjkToken(token) && next !== undefined && isCjkToken(next)) parts.push(token + next);
  }
  return parts;
}

/** The GuardTruth of a sample: what its answer (or a completion for its prompt) is held to. */
export function guardTruth(source: GuardSource): GuardTruth {
  const forms = keywordForms(source);
  const formKeys = forms
    .flat()
    .map(matchKey)
    .filter((formKey) => formKey !== '');
  const touchesKeyword = (textKey: string) => formKeys.some((formKey) => textKey.includes(formKey) || formKey.includes(textKey));
  const questionKey = matchKey(source.question);
  const excluded = new Set([...source.names, ...source.fieldLabels].map(matchKey));
  // A CM answer recites when it lists the user's other words or the profile's values.
  const profile = factsOf(source.profileText);
  const userWords = source.conversation
    .filter((turn) => turn.role === 'user')
    .map((turn) => turn.content)
    .join('\n');
  const rivals: string[] = [];
  const seen = new Set<string>();
  const answerKey = source.onlyFor === undefined ? undefined : matchKey(answerText(source.onlyFor));
  for (const phrase of [...phrasesOf(userWords), ...profile.phrases]) {
    const { key: phraseKey } = phrase;
    if (answerKey !== undefined && (phraseKey === '' || !answerKey.includes(phraseKey))) continue;
    if (seen.has(phraseKey) || excluded.has(phraseKey) || touchesKeyword(phraseKey) || questionKey.includes(phraseKey)) continue;
    if (source.distractor !== undefined && holds(phraseKey, source.distractor)) continue;
    seen.add(phraseKey);
    rivals.push(phrase.text);
    if (rivals.length >= MAX_RIVALS) break;
  }
  const distractors =
    source.kind === 'CM' && source.distractor !== undefined && source.distractor.trim() !== ''
      ? [...new Set([source.distractor, ...distractorParts(source.distractor)])].filter(
          (part) => !formKeys.some((formKey) => formKey.includes(matchKey(part))),
        )
      : [];
  const allowedNumbers = [...new Set([...forms.flat(), source.question].flatMap(numbersIn).map(numberValue))];
  const conversationKey = matchKey(source.conversation.map((turn) => turn.content).join('\n'));
  const inCharacter = OUT_OF_CHARACTER.filter((phrase) => profile.inCharacter.includes(phrase) || holds(conversationKey, phrase));
  return {
    keywords: source.keywords,
    keyword_alternatives: source.keyword_alternatives,
    kind: source.kind,
    language: source.language,
    distractors,
    rivals,
    allowed_numbers: allowedNumbers,
    in_character: inCharacter,
    ...(source.referenceAnswer !== undefined ? { reference_answer: source.referenceAnswer } : {}),
  };
}

export interface RewardParts {
  /** 1.0 when the answer holds every keyword in some form. */
  readonly keywords: number;
  /** 1.0 when no guard fails. */
  readonly guards: number;
  readonly format: number;
  /** What the trainer optimises: (1 - formatWeight) x keywords x the guards' factors + formatWeight x format. */
  readonly score: number;
  readonly failed: readonly GuardName[];
}

/** 1.0 when the completion is one leading, closed `<think>` block followed by a non-empty answer. */
function formatScore(completion: string): number {
  const text = completion.trimStart();
  if (!text.startsWith(THINK_OPEN) || text.split(THINK_OPEN).length !== 2 || text.split(THINK_CLOSE).length !== 2) return 0;
  return answerText(text) === '' ? 0 : 1;
}

/** The reward of one completion: the keywords, each guard's cost (data reward.penalty), and the optional format term. */
export function rewardParts(completion: string, truth: GuardTruth, formatWeight = 0): RewardParts {
  const answer = answerText(completion);
  const key = matchKey(answer);
  const keywords = keywordForms(truth).every((forms) => forms.some((form) => keyContains(key, form))) ? 1 : 0;
  const failed = guardFailures(answer, truth).map((failure) => failure.guard);
  let factor = 1;
  for (const guard of new Set(failed)) factor *= 1 - (guards.reward.penalty[guard] ?? 1);
  const format = formatScore(completion);
  return {
    keywords,
    guards: failed.length === 0 ? 1 : 0,
    format,
    score: (1 - formatWeight) * keywords * factor + formatWeight * format,
    failed: [...new Set(failed)],
  };
}
