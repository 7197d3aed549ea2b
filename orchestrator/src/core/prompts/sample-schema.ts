import { z } from 'zod';
import { MODEL_ANSWER_REQUEST } from '../verify/model-answer.ts';
import type { ResponseSchema } from '../ports/llm-backend.ts';
import type { SampleKind } from '../verify/sample.ts';

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

/** The JSON Schema each model call must answer with; property names are the sample's field names. */
export function responseSchema(kind: SampleKind): ResponseSchema {
  return RESPONSE_SCHEMAS[kind];
}
