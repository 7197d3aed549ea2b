import { z } from 'zod';
import { MODEL_ANSWER_REQUEST } from '../verify/model-answer.ts';
import type { ResponseSchema } from '../ports/llm-backend.ts';
import type { QuestionType, SampleKind } from '../verify/sample.ts';

export { LIMITS } from '../verify/model-answer.ts';
export type { ResponseSchema };

/**
 * Plain JSON Schema, as SGLang's grammar backends and Bedrock tool inputSchema take it: no `$schema`
 * (the keywords used mean the same in every draft), and no `$ref` because zod inlines reused parts.
 */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _draft, ...plain } = z.toJSONSchema(schema);
  return plain;
}

/** Built once: sglang-backend caches each one's serialisation keyed by the object. */
const RESPONSE_SCHEMAS: Readonly<Record<SampleKind, ResponseSchema>> = {
  SBK: { name: 'raiden_sbk_sample', schema: jsonSchema(MODEL_ANSWER_REQUEST.SBK) },
  CM: { name: 'raiden_cm_sample', schema: jsonSchema(MODEL_ANSWER_REQUEST.CM) },
};

/**
 * The slot's question type as an enum of one: a model under constrained decoding cannot record another
 * type, so no call is spent on a question_type_mismatch. Built once per kind and type, like the above.
 */
const PINNED_SCHEMAS = new Map<string, ResponseSchema>();

function pinnedSchema(kind: SampleKind, questionType: QuestionType): ResponseSchema {
  const key = `${kind}/${questionType}`;
  let schema = PINNED_SCHEMAS.get(key);
  if (schema === undefined) {
    schema = {
      name: RESPONSE_SCHEMAS[kind].name,
      schema: jsonSchema(MODEL_ANSWER_REQUEST[kind].extend({ question_type: z.enum([questionType]) })),
    };
    PINNED_SCHEMAS.set(key, schema);
  }
  return schema;
}

/**
 * The JSON Schema each model call must answer with; property names are the sample's field names. With a
 * question type, the schema allows only that one.
 */
export function responseSchema(kind: SampleKind, questionType?: QuestionType): ResponseSchema {
  return questionType === undefined ? RESPONSE_SCHEMAS[kind] : pinnedSchema(kind, questionType);
}
