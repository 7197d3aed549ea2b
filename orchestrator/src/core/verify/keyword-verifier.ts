/**
 * Whether a model's answer is a sample a GRPO trainer can trust: its keywords are facts a right answer
 * contains and a wrong one does not (SBK: from the profile; CM: said by the user earlier), and a CM
 * conversation tests memory. Matching is keyword-match.ts; this module decides what may be a keyword.
 */
import { boundedMemo } from './bounded-memo.ts';
import guards from './data/answer-guards.json' with { type: 'json' };
import rules from './data/keyword-rules.json' with { type: 'json' };
import { answerText, guardFailures, guardTruth, occurrences, type GuardName } from './answer-guards.ts';
import { canonicalText, containsKeyword, isCjkChar, keyContains, matchKey, matchTokens } from './keyword-match.ts';
import { detectLanguage, type Language } from './language.ts';
import { LIMITS, parseModelAnswer, type SampleContent } from './model-answer.ts';
import { alternativeMismatch, questionTypesOf, valueLeak } from './question-rules.ts';
import type { QuestionType, SampleKind } from './sample.ts';
import { questionFingerprint } from './text-normalize.ts';

export type { SampleContent };

export interface VerificationContext {
  readonly kind: SampleKind;
  /** Profile text SBK keywords must be grounded in and CM keywords must stay out of. */
  readonly profileText: string;
  /** The character's name and aliases; neither, nor any part of one, proves anything as a keyword. */
  readonly names: readonly string[];
  /** The profile's field labels (爱好, occupation): a label is not a fact. */
  readonly fieldLabels: readonly string[];
  /** The question type the slot asked for; the recorded one must match it. */
  readonly questionType?: QuestionType | undefined;
  /** Normalised fingerprints of questions already accepted for this profile. */
  readonly acceptedQuestions: ReadonlySet<string>;
  /** The language the slot asked for; the answer must be in it. @default the profile's language */
  readonly language?: Language | undefined;
  /** SBK: the text of the profile field the slot's focus chose; the keyword must come from it. */
  readonly focusFieldText?: string | undefined;
}

/** A verified answer: keyword_alternatives has one list per keyword. */
export type VerifiedContent = SampleContent & { readonly keyword_alternatives: readonly (readonly string[])[] };

export type Verdict = { ok: true; content: VerifiedContent } | { ok: false; reason: RejectReason; detail: string };

export type RejectReason =
  | 'invalid_json'
  | 'schema_mismatch'
  | 'empty_field'
  | 'too_long'
  | 'question_type_mismatch'
  | 'conversation_roles'
  | 'conversation_too_short'
  | 'conversation_empty_turn'
  | 'keyword_not_in_answer'
  | 'keyword_not_in_profile'
  | 'keyword_not_in_focus_field'
  | 'keyword_not_in_conversation'
  | 'keyword_not_from_user'
  | 'keyword_in_profile'
  | 'keyword_stop_word'
  | 'keyword_generic'
  | 'keyword_field_label'
  | 'keyword_is_name'
  | 'keyword_too_short'
  | 'keyword_too_long'
  | 'keyword_fragment'
  | 'keyword_duplicate'
  | 'keyword_in_question'
  | 'keyword_alternative_implausible'
  | 'detail_too_close'
  | 'distractor_missing'
  | 'distractor_not_in_conversation'
  | 'distractor_is_keyword'
  | 'distractor_in_answer'
  | 'duplicate_question'
  | 'distractor_before_detail'
  | 'detail_restated'
  | 'answer_negated'
  | 'answer_hedges'
  | 'answer_recites'
  | 'answer_language'
  | 'answer_out_of_character';

/** The reject reason of each answer guard the verifier applies (length is the reward's: the verifier has LIMITS). */
const GUARD_REASONS: Readonly<Record<GuardName, RejectReason>> = {
  negation: 'answer_negated',
  hedge: 'answer_hedges',
  distractor: 'distractor_in_answer',
  recital: 'answer_recites',
  length: 'too_long',
  language: 'answer_language',
  in_character: 'answer_out_of_character',
};

const GUARD_FIXES: Readonly<Record<GuardName, string>> = {
  negation: 'state the fact, do not deny it',
  hedge: 'give the one value asked for, with no other candidates',
  distractor: 'answer with the detail asked for only',
  recital: 'answer the question instead of listing what the profile says',
  length: 'shorten the answer',
  language: 'answer in the language the prompt asks for',
  in_character: 'answer as the character',
};

/** CM: turns before the question; the detail, the assistant's reply, one more exchange. */
export const MIN_CM_TURNS = 4;

const STOP_WORDS = new Set([...rules.stop_words.en, ...rules.stop_words.zh].map(canonicalText));
const GENERIC_WORDS = new Set([...rules.generic_words.en, ...rules.generic_words.zh].map(canonicalText));
const FRAGMENT = rules.cjk_fragment;
const PRONOUN_STARTS = {
  en: new Set(guards.keyword_starts.en.map(canonicalText)),
  zh: new Set(guards.keyword_starts.zh.map(canonicalText)),
};
const LABEL_CUES = [...guards.label_cues.en, ...guards.label_cues.zh].map((cue) => ({ cue, key: matchKey(cue) }));

/** Checks that a parsed model output is a well-formed sample whose keywords verifiably hold. */
export function verifySample(value: unknown, context: VerificationContext): Verdict {
  const parsed = parseModelAnswer(value, context.kind);
  if (!parsed.ok) return reject('schema_mismatch', parsed.detail);
  const raw = parsed.content;
  const alternativeLists = raw.keyword_alternatives ?? raw.keywords.map(() => []);
  if (alternativeLists.length !== raw.keywords.length) {
    return reject(
      'schema_mismatch',
      `keyword_alternatives has ${alternativeLists.length} lists for ${raw.keywords.length} keywords: give one list per keyword, [] when it has no other written form`,
    );
  }
  const content: VerifiedContent = { ...raw, keyword_alternatives: alternativeLists };

  for (const [field, limit] of [
    ['question', LIMITS.question],
    ['answer', LIMITS.answer],
    ['reasoning', LIMITS.reasoning],
  ] as const) {
    const text = content[field];
    if (text.length === 0) return reject('empty_field', `${field} is empty: write it`);
    if (text.length > limit) return reject('too_long', `${field} has ${text.length} characters; shorten it to at most ${limit}`);
  }
  if (context.questionType !== undefined && content.question_type !== context.questionType) {
    return reject(
      'question_type_mismatch',
      `the slot asked for a "${context.questionType}" question but the sample records "${content.question_type}": ask a ${context.questionType} question and record it as such`,
    );
  }
  const fits = questionTypesOf(content.question);
  if (fits.size > 0 && !fits.has(content.question_type)) {
    return reject(
      'question_type_mismatch',
      `the question asks ${[...fits].map((type) => `"${type}"`).join(' or ')} but the sample records "${content.question_type}": ask a ${content.question_type} question`,
    );
  }
  if (context.kind === 'CM') {
    const problem = conversationProblem(content);
    if (problem !== undefined) return problem;
  }

  const answer = answerText(content.answer);
  if (answer === '') return reject('empty_field', 'answer holds nothing outside <think> blocks: write the reply itself');
  const answerKey = matchKey(answer);
  const questionKey = matchKey(content.question);
  const profileKey = matchKey(context.profileText);
  const names = context.names.map(matchTokens).filter((tokens) => tokens.length > 0);
  const labels = new Set(context.fieldLabels.map(matchKey));
  const seen: string[] = [];
  for (const [index, keyword] of content.keywords.entries()) {
    const shown = JSON.stringify(keyword);
    const ruleBreak = keywordRuleBreak(keyword, names, labels);
    if (ruleBreak !== undefined) return reject(ruleBreak.reason, `keyword ${shown} ${ruleBreak.detail}`);
    const key = matchKey(keyword);
    if (seen.some((earlier) => earlier.includes(key) || key.includes(earlier))) {
      return reject('keyword_duplicate', `keyword ${shown} repeats or contains another keyword: give each distinct fact once`);
    }
    seen.push(key);
    if (canonicalText(keyword).length > LIMITS.keyword) {
      return reject('keyword_too_long', `keyword ${shown} is longer than ${LIMITS.keyword} characters: keep only the essential term`);
    }
    const alternatives = content.keyword_alternatives[index] ?? [];
    if (![keyword, ...alternatives].some((form) => keyContains(answerKey, form))) {
      return reject('keyword_not_in_answer', `keyword ${shown} (or an alternative) does not appear in the answer: say it in the answer`);
    }
    if (context.kind === 'SBK') {
      if (!keyContains(profileKey, keyword)) {
        return reject('keyword_not_in_profile', `keyword ${shown} does not appear in the profile: copy the keyword from the profile text`);
      }
      const fragment = fragmentProblem(keyword, context.profileText);
      if (fragment !== undefined) return reject('keyword_fragment', `keyword ${shown} ${fragment}`);
      if (context.focusFieldText !== undefined && !containsKeyword(context.focusFieldText, keyword, alternatives)) {
        return reject(
          'keyword_not_in_focus_field',
          `keyword ${shown} is not in the profile field the question was to be about: ask about that field's own facts`,
        );
      }
    } else {
      const problem = memoryProblem(keyword, content, profileKey);
      if (problem !== undefined) return problem;
    }
    if ([keyword, ...alternatives].some((form) => keyContains(questionKey, form))) {
      return reject(
        'keyword_in_question',
        `keyword ${shown} (or an alternative) already appears in the question: ask without giving the answer away`,
      );
    }
    const leak = valueLeak(content.question, [keyword, ...alternatives]);
    if (leak !== undefined) return reject('keyword_in_question', `${leak} (keyword ${shown}): ask without giving the answer away`);
    for (const alternative of alternatives) {
      const problem = alternativeProblem(alternative, keyword, names, labels);
      if (problem !== undefined) {
        return reject('keyword_alternative_implausible', `alternative ${JSON.stringify(alternative)} of keyword ${shown} ${problem}`);
      }
    }
  }
  if (context.kind === 'CM') {
    const problem = distractorProblem(content, answerKey) ?? detailOrderProblem(content);
    if (problem !== undefined) return problem;
  }
  const truth = guardTruth({
    kind: context.kind,
    language: context.language ?? detectLanguage(context.profileText),
    keywords: content.keywords,
    keyword_alternatives: content.keyword_alternatives,
    question: content.question,
    profileText: context.profileText,
    names: context.names,
    fieldLabels: context.fieldLabels,
    conversation: content.conversation_history,
    distractor: content.distractor,
    onlyFor: answer,
  });
  const failure = guardFailures(answer, truth)[0];
  if (failure !== undefined) return reject(GUARD_REASONS[failure.guard], `the answer ${failure.detail}: ${GUARD_FIXES[failure.guard]}`);
  if (context.acceptedQuestions.has(questionFingerprint(content.question))) {
    return reject(
      'duplicate_question',
      `question duplicates one already accepted for this profile: ${JSON.stringify(content.question)}; ask about another fact`,
    );
  }
  return { ok: true, content };
}

type RuleBreak = { reason: RejectReason; detail: string };

/** Rules every keyword form obeys, whatever it is grounded in. */
function keywordRuleBreak(form: string, names: readonly string[][], labels: ReadonlySet<string>): RuleBreak | undefined {
  const canonical = canonicalText(form);
  if (canonical.length === 0) return { reason: 'empty_field', detail: 'is empty: remove it or write the fact' };
  if (STOP_WORDS.has(canonical)) return { reason: 'keyword_stop_word', detail: 'is a pronoun or function word: use the specific fact' };
  if (GENERIC_WORDS.has(canonical))
    return {
      reason: 'keyword_generic',
      detail: 'is a generic word a wrong answer contains as easily: use a specific name, place, number or term',
    };
  const tokens = matchTokens(form);
  const hasNumber = tokens.some((token) => /^\d/u.test(token));
  if (!hasNumber) {
    const hasCjk = [...canonical].some(isCjkChar);
    const letters = (canonical.match(/\p{L}/gu) ?? []).length;
    if (letters < (hasCjk ? rules.min_length.cjk_characters : rules.min_length.letters)) {
      return {
        reason: 'keyword_too_short',
        detail: `is too short to be specific (at least ${rules.min_length.cjk_characters} CJK characters or ${rules.min_length.letters} letters unless a number)`,
      };
    }
  }
  if (names.some((name) => isSubsequence(tokens, name))) {
    return { reason: 'keyword_is_name', detail: "is the character's name, an alias or part of one: use a fact about the character" };
  }
  if (labels.has(matchKey(form)))
    return { reason: 'keyword_field_label', detail: 'is a field label of the profile, not a fact: use the value' };
  const edge = particleProblem(form);
  if (edge !== undefined) return { reason: 'keyword_fragment', detail: edge };
  const first = tokens[0] ?? '';
  if ((isCjkChar(first) ? PRONOUN_STARTS.zh : PRONOUN_STARTS.en).has(first) && tokens.length > 1) {
    return {
      reason: 'keyword_fragment',
      detail: 'starts with a pronoun, so it was cut out of a sentence about someone: copy only the name, place, number or term',
    };
  }
  const key = matchKey(form);
  const label = LABEL_CUES.find((candidate) => key.includes(candidate.key));
  if (label !== undefined) return { reason: 'keyword_field_label', detail: `holds the label word "${label.cue}": copy only the value` };
  return undefined;
}

function isSubsequence(part: readonly string[], whole: readonly string[]): boolean {
  if (part.length === 0 || part.length > whole.length) return false;
  for (let start = 0; start + part.length <= whole.length; start++) {
    if (part.every((token, offset) => whole[start + offset] === token)) return true;
  }
  return false;
}

/** A CJK keyword that starts or ends on a particle, or holds an aspect marker, was cut out of a phrase. */
function particleProblem(form: string): string | undefined {
  const chars = [...form.normalize('NFKC').trim()];
  const cjk = chars.filter(isCjkChar);
  if (cjk.length === 0) return undefined;
  const first = chars[0] ?? '';
  const last = chars.at(-1) ?? '';
  if (FRAGMENT.start_particles.includes(first) || FRAGMENT.end_particles.includes(last)) {
    return 'starts or ends on a particle, so it was cut out of a phrase: copy the whole name or term';
  }
  if (cjk.length >= FRAGMENT.phrase_min_length && chars.slice(1, -1).some((char) => FRAGMENT.phrase_markers.includes(char))) {
    return 'is a clause, not a term: copy only the name, place, number or term';
  }
  return undefined;
}

const segmenter = new Intl.Segmenter('zh', { granularity: 'word' });

/**
 * ICU's dictionary knows common words but splits names into single characters, so the one signal it gives
 * reliably is a dictionary word straddling a keyword's edge (学校天文社社 ends inside 社长). Keywords with
 * digits are left alone: ICU glues numbers to the next character (十五岁, 日出生).
 */
function fragmentProblem(keyword: string, source: string): string | undefined {
  const form = keyword.normalize('NFKC').trim();
  if (![...form].every(isCjkChar)) return undefined;
  const text = source.normalize('NFKC');
  const boundaries = segmentBoundaries(text);
  let found = false;
  for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
    found = true;
    if (cleanEdge(text, at, boundaries) && cleanEdge(text, at + form.length, boundaries)) return undefined;
  }
  return found ? 'cuts a word of the profile in two: copy the whole word' : undefined;
}

function cleanEdge(text: string, at: number, boundaries: ReadonlySet<number>): boolean {
  if (boundaries.has(at)) return true;
  const around = text.slice(Math.max(0, at - 1), at + 1);
  return /\d/u.test(around);
}

const segmentBoundaries = boundedMemo(1024, (text): ReadonlySet<number> => {
  const set = new Set<number>([text.length]);
  for (const segment of segmenter.segment(text)) set.add(segment.index);
  return set;
});

/** An alternative is another written form of the same fact: the same rules and the same numbers (a form the matching already treats as the keyword, such as 三十五 for 35, is harmless). */
function alternativeProblem(
  alternative: string,
  keyword: string,
  names: readonly string[][],
  labels: ReadonlySet<string>,
): string | undefined {
  const ruleBreak = keywordRuleBreak(alternative, names, labels);
  if (ruleBreak !== undefined) return `${ruleBreak.detail} (${ruleBreak.reason})`;
  return alternativeMismatch(alternative, keyword);
}

function conversationProblem(content: SampleContent): Verdict | undefined {
  const turns = content.conversation_history;
  if (turns.some((turn) => turn.content.trim().length === 0))
    return reject('conversation_empty_turn', 'a conversation turn is empty: write every turn');
  const misplaced = turns.findIndex((turn, index) => turn.role !== (index % 2 === 0 ? 'user' : 'assistant'));
  if (misplaced >= 0) {
    return reject(
      'conversation_roles',
      `turn ${misplaced + 1} is by the ${turns[misplaced]?.role}: the conversation alternates user and assistant, starting with the user`,
    );
  }
  if (turns.length < MIN_CM_TURNS) {
    return reject(
      'conversation_too_short',
      `the conversation has ${turns.length} turns; write at least ${MIN_CM_TURNS}: the detail, the reply, and at least one more exchange before the question`,
    );
  }
  if (turns.at(-1)?.role !== 'assistant') {
    return reject('conversation_roles', 'the conversation ends with the user: end it with the assistant, the question comes after it');
  }
  return undefined;
}

/** CM: the keyword is something the user said, not in the profile, with at least one exchange after it. */
function memoryProblem(keyword: string, content: VerifiedContent, profileKey: string): Verdict | undefined {
  const shown = JSON.stringify(keyword);
  const turns = content.conversation_history;
  const detailTurn = turns.findIndex((turn) => turn.role === 'user' && containsKeyword(turn.content, keyword));
  if (detailTurn < 0) {
    return turns.some((turn) => containsKeyword(turn.content, keyword))
      ? reject('keyword_not_from_user', `keyword ${shown} is only said by the assistant: the user must tell the detail`)
      : reject('keyword_not_in_conversation', `keyword ${shown} does not appear in the conversation: copy it from the user's turn`);
  }
  if (keyContains(profileKey, keyword)) {
    return reject(
      'keyword_in_profile',
      `keyword ${shown} is in the character's profile, so recalling it tests no memory: use a detail the user tells`,
    );
  }
  if (detailTurn > turns.length - MIN_CM_TURNS) {
    return reject(
      'detail_too_close',
      `keyword ${shown} is first said in turn ${detailTurn + 1} of ${turns.length}: put at least one more user turn and reply between the detail and the question`,
    );
  }
  return undefined;
}

/**
 * CM: a distractor sits elsewhere in the user's turns, and the answer does not hedge with it. That it is of
 * the same kind as the detail is asked for in the prompt, not checked: no rule tells two dates from a date
 * and a name across scripts (腊月初九, 十月二日) without misjudging some.
 */
function distractorProblem(content: VerifiedContent, answerKey: string): Verdict | undefined {
  const distractor = content.distractor?.trim() ?? '';
  if (distractor.length === 0) {
    return reject(
      'distractor_missing',
      'no distractor: have the user also mention another detail of the same kind, and name it in "distractor"',
    );
  }
  const shown = JSON.stringify(distractor);
  const distractorKey = matchKey(distractor);
  if (!content.conversation_history.some((turn) => turn.role === 'user' && keyContains(matchKey(turn.content), distractor))) {
    return reject('distractor_not_in_conversation', `distractor ${shown} is not in a user turn: copy it from what the user said`);
  }
  const forms = content.keywords.flatMap((keyword, index) => [keyword, ...(content.keyword_alternatives[index] ?? [])]);
  if (forms.some((form) => distractorKey.includes(matchKey(form)) || matchKey(form).includes(distractorKey))) {
    return reject('distractor_is_keyword', `distractor ${shown} is (part of) a keyword: the distractor must be a different detail`);
  }
  if (keyContains(answerKey, distractor)) {
    return reject('distractor_in_answer', `the answer mentions the distractor ${shown}: answer with the detail asked for only`);
  }
  return undefined;
}

/** Where a CM keyword is first told: [turn, token] of the earliest user mention of any keyword form. */
function firstUserMention(content: VerifiedContent, forms: readonly string[]): [number, number] | undefined {
  for (const [index, turn] of content.conversation_history.entries()) {
    if (turn.role !== 'user') continue;
    const tokens = matchTokens(turn.content);
    const starts = forms.flatMap((form) => occurrences(tokens, matchTokens(form)).slice(0, 1));
    if (starts.length > 0) return [index, Math.min(...starts)];
  }
  return undefined;
}

/**
 * CM: the detail is told before the distractor (the question asks for the first detail), and no assistant
 * turn after the user's last mention says it again: the answer must come from the user's words, not from
 * the turn right before the question.
 */
function detailOrderProblem(content: VerifiedContent): Verdict | undefined {
  const forms = content.keywords.flatMap((keyword, index) => [keyword, ...(content.keyword_alternatives[index] ?? [])]);
  const detail = firstUserMention(content, forms);
  const distractor = firstUserMention(content, [content.distractor ?? '']);
  if (
    detail !== undefined &&
    distractor !== undefined &&
    (distractor[0] < detail[0] || (distractor[0] === detail[0] && distractor[1] < detail[1]))
  ) {
    return reject(
      'distractor_before_detail',
      `the distractor ${JSON.stringify(content.distractor)} is said before the detail: have the user tell the detail first and the distractor later`,
    );
  }
  const turns = content.conversation_history;
  const mentions = (turn: { content: string }) => forms.some((form) => containsKeyword(turn.content, form));
  const lastUser = turns.reduce((last, turn, index) => (turn.role === 'user' && mentions(turn) ? index : last), -1);
  const restated = turns.findIndex((turn, index) => index > lastUser && turn.role === 'assistant' && mentions(turn));
  if (lastUser >= 0 && restated >= 0) {
    return reject(
      'detail_restated',
      `turn ${restated + 1} (the character) says the detail again after the user told it: keep the detail in the user's words only, so the question tests memory`,
    );
  }
  return undefined;
}

function reject(reason: RejectReason, detail: string): Verdict {
  return { ok: false, reason, detail };
}
