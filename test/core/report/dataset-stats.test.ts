import { describe, expect, it } from 'vitest';
import { DatasetStats } from '../../../orchestrator/src/core/report/dataset-stats.ts';
import type { Language } from '../../../orchestrator/src/core/verify/language.ts';
import type { ConversationTurn, Difficulty, QuestionType, Sample, SampleKind } from '../../../orchestrator/src/core/verify/sample.ts';

interface Shape {
  readonly kind?: SampleKind;
  readonly type?: QuestionType;
  readonly difficulty?: Difficulty;
  readonly language?: Language;
  readonly backend?: string;
  readonly model?: string;
  readonly keywords?: string[];
  readonly question?: string;
  readonly reasoning?: string;
  readonly answer?: string;
  readonly turns?: number;
}

let counter = 0;
function sample(profileId: string, shape: Shape = {}): Sample {
  const kind = shape.kind ?? 'SBK';
  const keywords = shape.keywords ?? ['Tallinn'];
  const history: ConversationTurn[] = Array.from({ length: shape.turns ?? (kind === 'CM' ? 4 : 0) }, (_, i) => ({
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: `turn ${i}`,
  }));
  return {
    id: `${profileId}/${kind}/${counter++}`,
    character_name: profileId,
    character_profile: { bio: 'b' },
    conversation_history: history,
    question: shape.question ?? 'q?',
    reasoning: shape.reasoning ?? 'rr',
    answer: shape.answer ?? 'aaa',
    keywords,
    keyword_alternatives: keywords.map(() => []),
    question_type: shape.type ?? 'what',
    validation_method: keywords.length === 1 ? 'single_term_validation' : 'multi_term_parsing',
    difficulty: shape.difficulty ?? 'easy',
    metadata: {
      kind,
      backend: shape.backend ?? 'sglang',
      model: shape.model ?? 'qwen',
      language: shape.language ?? 'en',
      strategy: 'sglang',
      generated_at: '2025-01-01T00:00:00Z',
      usage: { input_tokens: 1, output_tokens: 1 },
      attempt: 1,
      focus: 'field:bio|what',
    },
  };
}

const emptySplit = {
  samples: 0,
  profiles: 0,
  by_kind: {},
  by_question_type: {},
  by_difficulty: {},
  by_language: {},
  by_validation_method: {},
  by_model: {},
};

describe('DatasetStats', () => {
  it('is all zeros for an empty dataset', () => {
    expect(new DatasetStats().result()).toEqual({
      ...emptySplit,
      mean_keywords: 0,
      mean_chars: { question: 0, reasoning: 0, answer: 0, conversation_turns: 0 },
      splits: { train: emptySplit, validation: emptySplit },
    });
  });

  it('counts samples per kind, question type, difficulty, language, validation method and model, over distinct profiles', () => {
    const stats = new DatasetStats();
    stats.add(sample('Ann', { kind: 'SBK', type: 'where', difficulty: 'easy', language: 'en' }), 'Ann', false);
    stats.add(sample('Ann', { kind: 'SBK', type: 'who', difficulty: 'hard', language: 'en', keywords: ['Tallinn', 'Kiwi'] }), 'Ann', false);
    stats.add(
      sample('Ann', { kind: 'CM', type: 'what', difficulty: 'medium', language: 'en', backend: 'bedrock', model: 'claude' }),
      'Ann',
      false,
    );
    stats.add(sample('Lin', { kind: 'SBK', type: 'where', difficulty: 'easy', language: 'zh' }), 'Lin', false);
    const result = stats.result();
    expect(result.samples).toBe(4);
    expect(result.profiles).toBe(2);
    expect(result.by_kind).toEqual({ CM: 1, SBK: 3 });
    expect(result.by_question_type).toEqual({ what: 1, where: 2, who: 1 });
    expect(result.by_difficulty).toEqual({ easy: 2, hard: 1, medium: 1 });
    expect(result.by_language).toEqual({ en: 3, zh: 1 });
    expect(result.by_validation_method).toEqual({ multi_term_parsing: 1, single_term_validation: 3 });
    expect(result.by_model).toEqual({ 'bedrock:claude': 1, 'sglang:qwen': 3 });
  });

  it('lists the keys of every count in sorted order, whatever order the samples came in', () => {
    const stats = new DatasetStats();
    for (const type of ['why', 'how', 'when', 'what'] as const) stats.add(sample('Ann', { type }), 'Ann', false);
    expect(Object.keys(stats.result().by_question_type)).toEqual(['how', 'what', 'when', 'why']);
  });

  it('counts the train and validation splits apart, and the whole as their sum', () => {
    const stats = new DatasetStats();
    stats.add(sample('Ann', { kind: 'SBK' }), 'Ann', false);
    stats.add(sample('Ann', { kind: 'CM' }), 'Ann', false);
    stats.add(sample('Bo', { kind: 'SBK', difficulty: 'hard' }), 'Bo', false);
    stats.add(sample('Lin', { kind: 'CM', language: 'zh', backend: 'bedrock', model: 'claude' }), 'Lin', true);
    const { splits, ...all } = stats.result();
    expect(splits.train).toMatchObject({
      samples: 3,
      profiles: 2,
      by_kind: { CM: 1, SBK: 2 },
      by_difficulty: { easy: 2, hard: 1 },
      by_language: { en: 3 },
      by_model: { 'sglang:qwen': 3 },
    });
    expect(splits.validation).toEqual({
      samples: 1,
      profiles: 1,
      by_kind: { CM: 1 },
      by_question_type: { what: 1 },
      by_difficulty: { easy: 1 },
      by_language: { zh: 1 },
      by_validation_method: { single_term_validation: 1 },
      by_model: { 'bedrock:claude': 1 },
    });
    expect(all).toMatchObject({ samples: 4, profiles: 3, by_kind: { CM: 2, SBK: 2 } });
  });

  it('counts profiles by the id it is given, not by the character name', () => {
    const stats = new DatasetStats();
    stats.add(sample('Ann'), 'profile-1', false);
    stats.add(sample('Ann'), 'profile-2', false);
    stats.add(sample('Bo'), 'profile-2', false);
    expect(stats.result().profiles).toBe(2);
  });

  it('reports means of keywords and lengths over all samples, and conversation turns over CM samples only, to one decimal', () => {
    const stats = new DatasetStats();
    stats.add(
      sample('Ann', { keywords: ['a1', 'b1', 'c1'], question: 'x'.repeat(10), reasoning: 'y'.repeat(100), answer: 'z'.repeat(20) }),
      'Ann',
      false,
    );
    stats.add(
      sample('Ann', { keywords: ['a1'], question: 'x'.repeat(21), reasoning: 'y'.repeat(50), answer: 'z'.repeat(5) }),
      'Ann',
      false,
    );
    stats.add(sample('Ann', { keywords: ['a1'], question: 'x'.repeat(30), reasoning: 'y'.repeat(1), answer: 'z'.repeat(6) }), 'Ann', true);
    stats.add(
      sample('Bo', { kind: 'CM', keywords: ['a1', 'b1'], question: 'x'.repeat(40), reasoning: '', answer: 'z', turns: 4 }),
      'Bo',
      false,
    );
    stats.add(sample('Bo', { kind: 'CM', keywords: ['a1'], question: 'x', reasoning: '', answer: 'z', turns: 7 }), 'Bo', true);
    const result = stats.result();
    expect(result.mean_keywords).toBe(1.6); // 8 / 5
    expect(result.mean_chars).toEqual({
      question: 20.4, // 102 / 5
      reasoning: 30.2, // 151 / 5
      answer: 6.6, // 33 / 5
      conversation_turns: 5.5, // (4 + 7) / 2 CM samples, the SBK samples do not dilute it
    });
  });

  it('rounds means to one decimal', () => {
    const stats = new DatasetStats();
    for (const keywords of [['a1'], ['a1'], ['a1', 'b1']]) stats.add(sample('Ann', { keywords }), 'Ann', false);
    expect(stats.result().mean_keywords).toBe(1.3);
  });
});
