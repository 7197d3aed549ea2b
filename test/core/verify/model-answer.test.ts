import Ajv from 'ajv';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseModelAnswer, type SampleContent } from '../../../orchestrator/src/core/verify/model-answer.ts';
import {
  DIFFICULTIES,
  QUESTION_TYPES,
  type ConversationTurn,
  type Difficulty,
  type QuestionType,
} from '../../../orchestrator/src/core/verify/sample.ts';
import { LIMITS, responseSchema } from '../../../orchestrator/src/core/prompts/sample-schema.ts';

const sbk = {
  question_type: 'who',
  question: '你女儿叫什么名字？',
  reasoning: '他问起我的家人，我想起了女儿，她是我最牵挂的人。',
  answer: '我女儿叫黄瑶，她喜欢画画。',
  keywords: ['黄瑶'],
  keyword_alternatives: [[]],
  difficulty: 'easy',
};
const cm = {
  conversation_history: [
    { role: 'user', content: '我的猫叫豆豆，今年三岁了。' },
    { role: 'assistant', content: '好可爱的名字，它一定很调皮吧。' },
    { role: 'user', content: '对了，你平时喜欢吃什么？' },
    { role: 'assistant', content: '我就爱吃棒棒糖。' },
  ],
  question: '还记得我的猫叫什么吗？',
  reasoning: '他一开始就说过他的猫，我记得那个名字。',
  answer: '当然记得，你的猫叫豆豆。',
  keywords: ['豆豆'],
  keyword_alternatives: [[]],
  question_type: 'what',
  difficulty: 'medium',
  distractor: '棒棒糖',
};
// Keywords and their alternatives come before the reasoning and the answer.
const answerFields = ['question_type', 'question', 'keywords', 'keyword_alternatives', 'reasoning', 'answer', 'difficulty'];

type Properties = Record<string, Record<string, unknown> & { items?: Record<string, unknown> & { properties?: Properties } }>;
const propertiesOf = (kind: 'SBK' | 'CM') => responseSchema(kind).schema.properties as Properties;

describe('the JSON Schema sent to the model', () => {
  it('lists every field as required, in writing order, with the conversation first for CM', () => {
    expect(responseSchema('SBK').name).toBe('raiden_sbk_sample');
    expect(responseSchema('CM').name).toBe('raiden_cm_sample');
    for (const [kind, fields] of [
      ['SBK', answerFields],
      ['CM', ['conversation_history', 'distractor', ...answerFields]],
    ] as const) {
      const { schema } = responseSchema(kind);
      expect(schema.type).toBe('object');
      expect(schema.additionalProperties).toBe(false);
      expect(Object.keys(propertiesOf(kind))).toEqual(fields);
      expect(schema.required).toEqual(fields);
    }
  });

  it('carries the enums and every length limit', () => {
    const properties = propertiesOf('CM');
    expect(properties.question_type).toEqual({ type: 'string', enum: [...QUESTION_TYPES] });
    expect(properties.difficulty).toEqual({ type: 'string', enum: [...DIFFICULTIES] });
    for (const field of ['question', 'reasoning', 'answer'] as const) {
      expect(properties[field]).toEqual({ type: 'string', minLength: 1, maxLength: LIMITS[field] });
    }
    expect(properties.keywords).toMatchObject({
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.keywords,
      items: { type: 'string', minLength: 1, maxLength: LIMITS.keyword },
    });
    expect(properties.keyword_alternatives).toMatchObject({
      type: 'array',
      minItems: 1,
      maxItems: LIMITS.keywords,
      items: { type: 'array', maxItems: LIMITS.alternatives, items: { type: 'string', minLength: 1, maxLength: LIMITS.keyword } },
    });
    expect(properties.conversation_history).toMatchObject({ type: 'array', minItems: 4, maxItems: LIMITS.turns });
    expect(properties.conversation_history?.items).toEqual({
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content'],
      properties: {
        role: { type: 'string', enum: ['user', 'assistant'] },
        content: { type: 'string', minLength: 1, maxLength: LIMITS.turn },
      },
    });
  });

  it('is plain: no $schema, $ref or $defs for the grammar backends and Bedrock to trip on', () => {
    for (const kind of ['SBK', 'CM'] as const) {
      expect(JSON.stringify(responseSchema(kind).schema)).not.toMatch(/"\$(schema|ref|defs|id)"/u);
    }
  });

  it('is the same object on every call, so its serialisation can be cached', () => {
    expect(responseSchema('CM')).toBe(responseSchema('CM'));
    expect(responseSchema('SBK')).toBe(responseSchema('SBK'));
  });

  it("pins the slot's question type as an enum of one, so a constrained model cannot record another", () => {
    const ajv = new Ajv();
    for (const kind of ['SBK', 'CM'] as const) {
      const pinned = responseSchema(kind, 'where');
      expect(pinned).toBe(responseSchema(kind, 'where'));
      expect(pinned.name).toBe(responseSchema(kind).name);
      const properties = pinned.schema.properties as Properties;
      expect(properties.question_type).toEqual({ type: 'string', enum: ['where'] });
      expect(Object.keys(properties)).toEqual(Object.keys(propertiesOf(kind)));
      const sample = kind === 'SBK' ? sbk : cm;
      expect(ajv.validate(pinned.schema, { ...sample, question_type: 'where' })).toBe(true);
      expect(ajv.validate(pinned.schema, { ...sample, question_type: 'who' })).toBe(false);
    }
  });

  it('accepts real samples and rejects bad ones under a validator other than zod', () => {
    const ajv = new Ajv();
    const check = (kind: 'SBK' | 'CM', value: unknown) => ajv.validate(responseSchema(kind).schema, value);
    expect(ajv.validateSchema(responseSchema('CM').schema)).toBe(true);
    expect(check('SBK', sbk)).toBe(true);
    expect(check('CM', cm)).toBe(true);
    expect(check('SBK', { ...sbk, extra: 1 })).toBe(false);
    expect(check('SBK', { ...sbk, question_type: 'WHO' })).toBe(false);
    expect(check('SBK', { ...sbk, question: 'x'.repeat(LIMITS.question + 1) })).toBe(false);
    expect(check('SBK', { ...sbk, keywords: [] })).toBe(false);
    expect(check('CM', sbk)).toBe(false);
    expect(check('CM', { ...cm, conversation_history: cm.conversation_history.slice(0, 3) })).toBe(false);
    expect(check('SBK', { ...sbk, keyword_alternatives: undefined })).toBe(false);
    expect(check('CM', { ...cm, conversation_history: [{ role: 'system', content: 'x' }, ...cm.conversation_history] })).toBe(false);
  });
});

describe('parsing what the model returned', () => {
  it('lower-cases enums, trims fields and keywords, and drops extra fields', () => {
    const parsed = parseModelAnswer(
      { ...sbk, question: ' 你女儿叫什么名字？\n', keywords: [' 黄瑶 '], question_type: 'WHO', difficulty: 'Easy', note: 'extra' },
      'SBK',
    );
    expect(parsed).toEqual({ ok: true, content: { ...sbk, conversation_history: [] } });
  });

  it('gives SBK an empty conversation even when the model wrote one', () => {
    expect(parseModelAnswer({ ...sbk, conversation_history: cm.conversation_history }, 'SBK')).toEqual({
      ok: true,
      content: { ...sbk, conversation_history: [] },
    });
  });

  it('keeps CM turns as written, dropping fields a turn should not have', () => {
    const turns = [
      { role: 'user', content: ' 我的猫叫豆豆。 ', mood: 'happy' },
      { role: 'assistant', content: '好。' },
    ];
    const parsed = parseModelAnswer({ ...cm, conversation_history: turns }, 'CM');
    expect(parsed.ok && parsed.content.conversation_history).toEqual([
      { role: 'user', content: ' 我的猫叫豆豆。 ' },
      { role: 'assistant', content: '好。' },
    ]);
  });

  it('leaves lengths and turn counts to the verifier', () => {
    expect(parseModelAnswer({ ...sbk, answer: '啊'.repeat(LIMITS.answer + 1), reasoning: '  ' }, 'SBK').ok).toBe(true);
    expect(parseModelAnswer({ ...sbk, keywords: ['x'.repeat(LIMITS.keyword + 1)] }, 'SBK').ok).toBe(true);
    expect(parseModelAnswer({ ...cm, conversation_history: cm.conversation_history.slice(0, 1) }, 'CM').ok).toBe(true);
  });

  it.each([
    ['question', 'SBK', { ...sbk, question: 42 }],
    [
      'answer',
      'SBK',
      { question: sbk.question, reasoning: sbk.reasoning, keywords: sbk.keywords, question_type: 'who', difficulty: 'easy' },
    ],
    ['keywords', 'SBK', { ...sbk, keywords: '黄瑶' }],
    ['keywords', 'SBK', { ...sbk, keywords: [] }],
    ['keywords', 'SBK', { ...sbk, keywords: ['a', 'b', 'c', 'd'] }],
    ['keywords.0', 'SBK', { ...sbk, keywords: [7] }],
    ['question_type', 'SBK', { ...sbk, question_type: 'which' }],
    ['difficulty', 'SBK', { ...sbk, difficulty: 3 }],
    ['conversation_history', 'CM', sbk],
    ['conversation_history.0.role', 'CM', { ...cm, conversation_history: [{ role: 'system', content: 'x' }] }],
    ['conversation_history.1.content', 'CM', { ...cm, conversation_history: [{ role: 'user', content: 'x' }, { role: 'assistant' }] }],
    ['output', 'SBK', ['not an object']],
    ['output', 'CM', null],
  ])('names %s when it does not fit (%s)', (field, kind, value) => {
    const parsed = parseModelAnswer(value, kind as 'SBK' | 'CM');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.detail).toMatch(new RegExp(`^${field.replace(/\./gu, '\\.')}: \\S`, 'u'));
  });

  it('types the content as the sample fields', () => {
    expectTypeOf<SampleContent['question_type']>().toEqualTypeOf<QuestionType>();
    expectTypeOf<SampleContent['difficulty']>().toEqualTypeOf<Difficulty>();
    expectTypeOf<SampleContent['keywords']>().toEqualTypeOf<string[]>();
    expectTypeOf<SampleContent['conversation_history'][number]['role']>().toEqualTypeOf<ConversationTurn['role']>();
    expectTypeOf<SampleContent['conversation_history']>().toExtend<readonly ConversationTurn[]>();
  });
});
