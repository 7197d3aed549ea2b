/**
 * The answer every generation call returns, defined once: the JSON Schema the model is asked for, the
 * checks its output must pass and the type the rest of the code works with all derive from it.
 */
import { z } from 'zod';
import { DIFFICULTIES, QUESTION_TYPES, type SampleKind } from './sample.ts';

/** Length limits shared by the schema (so the model is told) and the verifier (so they are enforced). */
export const LIMITS = {
  question: 300,
  answer: 1_500,
  reasoning: 3_000,
  keyword: 40,
  keywords: 3,
  /** Other written forms of one keyword (35 / 三十五). */
  alternatives: 3,
  turns: 8,
  turn: 600,
} as const;

const ROLES = ['user', 'assistant'] as const;

/**
 * `request` is what the model is told to write: exact enums, every limit, nothing else. `parse` is what is
 * accepted back: enums in any case, text and keywords trimmed, extra fields dropped, and no length or
 * turn-count limits, because an empty or too long field and a short conversation are the verifier's
 * `empty_field`, `too_long` and `conversation_too_short`, which must stay apart from `schema_mismatch`.
 * The keyword count is shape in both. keyword_alternatives and distractor may be missing from an answer
 * (an older prompt, a seed from an earlier run): the verifier says what is wrong with that.
 */
function answerSchemas(mode: 'request' | 'parse') {
  const request = mode === 'request';
  const text = (maxLength: number) => (request ? z.string().min(1).max(maxLength) : z.string().trim());
  const choice = <const T extends readonly [string, ...string[]]>(values: T) =>
    request ? z.enum(values) : z.string().toLowerCase().pipe(z.enum(values));
  const object = <S extends z.ZodRawShape>(shape: S) => (request ? z.strictObject(shape) : z.object(shape));

  // Keywords and their alternatives come before the reasoning and the answer, so the model commits to the
  // fact first instead of picking keywords out of its own finished answer.
  const answer = {
    question_type: choice(QUESTION_TYPES),
    question: text(LIMITS.question),
    keywords: z.array(text(LIMITS.keyword)).min(1).max(LIMITS.keywords),
    keyword_alternatives: request
      ? z
          .array(z.array(text(LIMITS.keyword)).max(LIMITS.alternatives))
          .min(1)
          .max(LIMITS.keywords)
      : z.array(z.array(z.string().trim())).optional(),
    reasoning: text(LIMITS.reasoning),
    answer: text(LIMITS.answer),
    difficulty: choice(DIFFICULTIES),
  };
  // Turns are kept as written: the conversation is stored verbatim in the sample.
  const turn = object({ role: z.enum(ROLES), content: request ? text(LIMITS.turn) : z.string() });
  return {
    SBK: object(answer),
    // CM puts the conversation first so the model writes it before the question that depends on it, and
    // names the distractor (a detail of the same kind the user also mentioned) right after it.
    CM: object({
      conversation_history: request ? z.array(turn).min(4).max(LIMITS.turns) : z.array(turn),
      distractor: request ? text(LIMITS.keyword) : z.string().trim().optional(),
      ...answer,
    }),
  };
}

/** What the model is asked to answer with, per kind; sample-schema.ts turns it into the JSON Schema sent. */
export const MODEL_ANSWER_REQUEST = answerSchemas('request');

const MODEL_ANSWER_PARSE = answerSchemas('parse');

/** What a model returned, once shape-checked: the sample's own fields, before ids and metadata are added. */
export type SampleContent = Readonly<
  Omit<z.output<(typeof MODEL_ANSWER_PARSE)['CM']>, 'keyword_alternatives' | 'distractor'> & {
    keyword_alternatives?: string[][] | undefined;
    distractor?: string | undefined;
  }
>;

type ParsedAnswer = { ok: true; content: SampleContent } | { ok: false; detail: string };

/** Shape-checks a parsed model output; `detail` names the first field that does not fit. */
export function parseModelAnswer(value: unknown, kind: SampleKind): ParsedAnswer {
  const parsed = MODEL_ANSWER_PARSE[kind].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, detail: `${issue?.path.map(String).join('.') || 'output'}: ${issue?.message ?? 'does not match the schema'}` };
  }
  // An SBK answer has no conversation; one the model adds anyway is dropped like any other extra field.
  return { ok: true, content: { conversation_history: [], distractor: undefined, ...parsed.data } };
}
