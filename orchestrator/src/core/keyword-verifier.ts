import { LIMITS, parseModelAnswer, type SampleContent } from './model-answer.ts';
import type { SampleKind } from './sample.ts';
import { normalizeText, questionFingerprint } from './text-normalize.ts';

export type { SampleContent };

export interface VerificationContext {
  readonly kind: SampleKind;
  /** Profile text the SBK keywords must be grounded in. */
  readonly profileText: string;
  /** The character's own names; a keyword equal to one proves nothing. */
  readonly names: readonly string[];
  /** Normalised fingerprints of questions already accepted for this profile. */
  readonly acceptedQuestions: ReadonlySet<string>;
}

export type Verdict = { ok: true; content: SampleContent } | { ok: false; reason: RejectReason; detail: string };

export type RejectReason =
  | 'invalid_json'
  | 'schema_mismatch'
  | 'empty_field'
  | 'too_long'
  | 'bad_conversation'
  | 'keyword_not_in_answer'
  | 'keyword_not_in_profile'
  | 'keyword_not_in_conversation'
  | 'keyword_stop_word'
  | 'keyword_is_name'
  | 'keyword_too_long'
  | 'keyword_in_question'
  | 'duplicate_question';

const STOP_WORDS = new Set([
  // English pronouns and function words
  'i',
  'me',
  'my',
  'mine',
  'myself',
  'you',
  'your',
  'yours',
  'yourself',
  'he',
  'him',
  'his',
  'himself',
  'she',
  'her',
  'hers',
  'herself',
  'it',
  'its',
  'itself',
  'we',
  'us',
  'our',
  'ours',
  'they',
  'them',
  'their',
  'theirs',
  'this',
  'that',
  'these',
  'those',
  'who',
  'whom',
  'what',
  'which',
  'the',
  'a',
  'an',
  'and',
  'or',
  'but',
  'if',
  'of',
  'to',
  'in',
  'on',
  'at',
  'by',
  'for',
  'with',
  'from',
  'as',
  'is',
  'are',
  'was',
  'were',
  'be',
  'been',
  'am',
  'do',
  'does',
  'did',
  'have',
  'has',
  'had',
  'not',
  'no',
  'yes',
  'so',
  'very',
  'just',
  'there',
  'here',
  'some',
  'any',
  // Chinese pronouns and function words
  '我',
  '你',
  '您',
  '他',
  '她',
  '它',
  '我们',
  '你们',
  '他们',
  '她们',
  '它们',
  '咱们',
  '自己',
  '这',
  '那',
  '这个',
  '那个',
  '这些',
  '那些',
  '什么',
  '谁',
  '的',
  '了',
  '是',
  '在',
  '和',
  '与',
  '或',
  '也',
  '就',
  '都',
  '不',
  '没',
  '没有',
  '有',
  '很',
  '吗',
  '呢',
  '吧',
  '啊',
  '是的',
  '不是',
  '一个',
]);

/** Checks that a parsed model output is a well-formed sample whose keywords verifiably hold. */
export function verifySample(value: unknown, context: VerificationContext): Verdict {
  const parsed = parseModelAnswer(value, context.kind);
  if (!parsed.ok) return reject('schema_mismatch', parsed.detail);
  const content = parsed.content;

  for (const [field, limit] of [
    ['question', LIMITS.question],
    ['answer', LIMITS.answer],
    ['reasoning', LIMITS.reasoning],
  ] as const) {
    const text = content[field];
    if (text.length === 0) return reject('empty_field', `${field} is empty`);
    if (text.length > limit) return reject('too_long', `${field} has ${text.length} characters; the limit is ${limit}`);
  }
  if (context.kind === 'CM') {
    const turns = content.conversation_history;
    if (turns.length < 2) return reject('bad_conversation', `CM needs at least 2 earlier turns, got ${turns.length}`);
    if (turns.some((turn) => turn.content.trim().length === 0)) return reject('bad_conversation', 'a conversation turn is empty');
  }

  const answer = normalizeText(content.answer);
  const question = normalizeText(content.question);
  const grounding =
    context.kind === 'SBK'
      ? normalizedProfile(context.profileText)
      : normalizeText(content.conversation_history.map((turn) => turn.content).join('\n'));
  const names = new Set(context.names.map(normalizeText));
  for (const keyword of content.keywords) {
    const key = normalizeText(keyword);
    const shown = JSON.stringify(keyword);
    if (key.length === 0) return reject('empty_field', 'a keyword is empty');
    if (STOP_WORDS.has(key)) return reject('keyword_stop_word', `keyword ${shown} is a pronoun or stop word`);
    if (names.has(key)) return reject('keyword_is_name', `keyword ${shown} is the character's own name`);
    if (key.length > LIMITS.keyword || key.length > answer.length)
      return reject('keyword_too_long', `keyword ${shown} is longer than allowed`);
    if (!answer.includes(key)) return reject('keyword_not_in_answer', `keyword ${shown} does not appear in the answer`);
    if (!grounding.includes(key)) {
      return context.kind === 'SBK'
        ? reject('keyword_not_in_profile', `keyword ${shown} does not appear in the profile`)
        : reject('keyword_not_in_conversation', `keyword ${shown} does not appear in an earlier turn of the conversation`);
    }
    if (question.includes(key)) return reject('keyword_in_question', `keyword ${shown} already appears in the question`);
  }
  if (context.acceptedQuestions.has(questionFingerprint(content.question))) {
    return reject('duplicate_question', `question duplicates one already accepted for this profile: ${JSON.stringify(content.question)}`);
  }
  return { ok: true, content };
}

/** Profiles are normalised once, not once per attempt: with ~1 KB profiles NFKC was a top CPU cost. */
const normalizedProfiles = new Map<string, string>();

function normalizedProfile(text: string): string {
  let normalized = normalizedProfiles.get(text);
  if (normalized === undefined) {
    if (normalizedProfiles.size >= 4096) normalizedProfiles.clear();
    normalized = normalizeText(text);
    normalizedProfiles.set(text, normalized);
  }
  return normalized;
}

function reject(reason: RejectReason, detail: string): Verdict {
  return { ok: false, reason, detail };
}
