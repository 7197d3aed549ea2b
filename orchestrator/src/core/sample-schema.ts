import type { ResponseSchema } from './ports/llm-backend.ts';
import { DIFFICULTIES, QUESTION_TYPES, type SampleKind } from './sample.ts';

export type { ResponseSchema };

/** Length limits shared by the schema (so the model is told) and the verifier (so they are enforced). */
export const LIMITS = {
  question: 300,
  answer: 1_500,
  reasoning: 3_000,
  keyword: 40,
  keywords: 3,
  turns: 8,
  turn: 600,
} as const;


const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength });

const answerProperties = {
  question: text(LIMITS.question),
  reasoning: text(LIMITS.reasoning),
  answer: text(LIMITS.answer),
  keywords: { type: 'array', items: text(LIMITS.keyword), minItems: 1, maxItems: LIMITS.keywords },
  question_type: { type: 'string', enum: [...QUESTION_TYPES] },
  difficulty: { type: 'string', enum: [...DIFFICULTIES] },
};

const conversationProperty = {
  conversation_history: {
    type: 'array',
    minItems: 2,
    maxItems: LIMITS.turns,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content'],
      properties: { role: { type: 'string', enum: ['user', 'assistant'] }, content: text(LIMITS.turn) },
    },
  },
};

/** The JSON Schema each model call must answer with; property names are the sample's field names. */
export function responseSchema(kind: SampleKind): ResponseSchema {
  // CM puts the conversation first so the model writes it before the question that depends on it.
  const properties = kind === 'CM' ? { ...conversationProperty, ...answerProperties } : answerProperties;
  return {
    name: kind === 'CM' ? 'raiden_cm_sample' : 'raiden_sbk_sample',
    schema: { type: 'object', additionalProperties: false, required: Object.keys(properties), properties },
  };
}
