import { describe, expect, it } from 'vitest';
import { EXAMPLES_PER_PROMPT, FewShotExamples } from '../../../orchestrator/src/core/prompts/few-shot.ts';
import type { Slot } from '../../../orchestrator/src/core/profiles/plan.ts';
import type { Language } from '../../../orchestrator/src/core/verify/language.ts';
import type { Profile } from '../../../orchestrator/src/core/profiles/profile.ts';
import { buildMessages, type ChatMessage } from '../../../orchestrator/src/core/prompts/prompts.ts';
import type { Sample, SampleKind } from '../../../orchestrator/src/core/verify/sample.ts';

function seed(name: string, kind: SampleKind, language: Language): Sample {
  return {
    id: `${name}/${kind}/0`,
    character_name: name,
    character_profile: { name, secret: 'not for the prompt' },
    conversation_history:
      kind === 'CM'
        ? [
            { role: 'user', content: `I met ${name}-friend` },
            { role: 'assistant', content: 'How nice.' },
          ]
        : [],
    question: `${name} question`,
    reasoning: `${name} reasoning`,
    answer: `${name} answer`,
    keywords: [`${name}-keyword`],
    keyword_alternatives: [[]],
    question_type: 'what',
    validation_method: 'single_term_validation',
    difficulty: 'medium',
    metadata: {
      kind,
      backend: 'bedrock',
      model: 'claude',
      language,
      strategy: 'iterative',
      generated_at: '2025-01-01T00:00:00Z',
      usage: { input_tokens: 1, output_tokens: 1 },
      attempt: 1,
      focus: 'field:bio|what',
    },
  };
}

const profile: Profile = {
  id: 'Ann',
  name: 'Ann',
  aliases: [],
  language: 'en',
  fields: { bio: 'a baker in Tallinn' },
  text: 'bio: a baker in Tallinn',
  location: 'test',
};
const slot = (kind: SampleKind, language: Language, index = 0): Slot => ({
  id: `Ann/${kind}/${index}`,
  profileId: 'Ann',
  kind,
  index,
  language,
  focus: kind === 'SBK' ? { field: 'bio', questionType: 'where' } : { topic: 'pet', questionType: 'what' },
});
const messages = (kind: SampleKind, language: Language, index = 0) => buildMessages(profile, slot(kind, language, index));

/** The examples shown in a system prompt, parsed back, in order. */
const examplesIn = (system: string) =>
  [...system.matchAll(/<example>\n(.*)\n<\/example>/gu)].map((match) => JSON.parse(match[1]!) as Record<string, unknown>);

describe('FewShotExamples', () => {
  it('appends the examples to the system prompt only, leaving the user message and the input as they were', () => {
    const examples = new FewShotExamples([seed('Bo', 'SBK', 'en')]);
    const original = messages('SBK', 'en');
    const before = structuredClone(original);
    const applied = examples.apply(original, 'SBK', 'en');
    expect(original).toEqual(before);
    expect(applied).toHaveLength(2);
    expect(applied[1]).toEqual(original[1]);
    expect(applied[0]!.role).toBe('system');
    expect(applied[0]!.content.startsWith(`${original[0]!.content}\n\nExamples of accepted samples for other characters.`)).toBe(true);
    expect(applied[1]!.content).not.toContain('Bo question');
  });

  it('shows the sample fields a model writes, not the profile or the metadata', () => {
    const [shown] = examplesIn(new FewShotExamples([seed('Bo', 'SBK', 'en')]).apply(messages('SBK', 'en'), 'SBK', 'en')[0]!.content);
    expect(shown).toEqual({
      character: 'Bo',
      question_type: 'what',
      question: 'Bo question',
      keywords: ['Bo-keyword'],
      keyword_alternatives: [[]],
      reasoning: 'Bo reasoning',
      answer: 'Bo answer',
      difficulty: 'medium',
    });
    // In the order the schema asks for them: the keywords before the answer.
    expect(Object.keys(shown!)).toEqual([
      'character',
      'question_type',
      'question',
      'keywords',
      'keyword_alternatives',
      'reasoning',
      'answer',
      'difficulty',
    ]);
    const [cmShown] = examplesIn(new FewShotExamples([seed('Cy', 'CM', 'en')]).apply(messages('CM', 'en'), 'CM', 'en')[0]!.content);
    expect(cmShown).toMatchObject({
      character: 'Cy',
      conversation_history: [
        { role: 'user', content: 'I met Cy-friend' },
        { role: 'assistant', content: 'How nice.' },
      ],
    });
  });

  it('prefers seeds in the slot language and falls back to others, with the header in the slot language', () => {
    const examples = new FewShotExamples([seed('En1', 'SBK', 'en'), seed('En2', 'SBK', 'en'), seed('Zh1', 'SBK', 'zh')]);
    const zh = examples.apply(messages('SBK', 'zh'), 'SBK', 'zh')[0]!.content;
    expect(examplesIn(zh).map((example) => example.character)).toEqual(['Zh1', 'En1']);
    expect(zh).toContain('以下是其他角色的合格样本示例');
    const en = examples.apply(messages('SBK', 'en'), 'SBK', 'en')[0]!.content;
    expect(examplesIn(en).map((example) => example.character)).toEqual(['En1', 'En2']);
    expect(en).not.toContain('以下是其他角色');
  });

  it(`shows at most EXAMPLES_PER_PROMPT (${EXAMPLES_PER_PROMPT}) examples, or the number it is given`, () => {
    const seeds = ['A', 'B', 'C', 'D', 'E'].map((name) => seed(name, 'SBK', 'en'));
    expect(EXAMPLES_PER_PROMPT).toBe(2);
    expect(examplesIn(new FewShotExamples(seeds).apply(messages('SBK', 'en'), 'SBK', 'en')[0]!.content)).toHaveLength(EXAMPLES_PER_PROMPT);
    expect(
      examplesIn(new FewShotExamples(seeds, 4).apply(messages('SBK', 'en'), 'SBK', 'en')[0]!.content).map((example) => example.character),
    ).toEqual(['A', 'B', 'C', 'D']);
  });

  it('shows only seeds of the slot kind', () => {
    const examples = new FewShotExamples([seed('Sb', 'SBK', 'en'), seed('Cm', 'CM', 'en')]);
    expect(examplesIn(examples.apply(messages('SBK', 'en'), 'SBK', 'en')[0]!.content).map((example) => example.character)).toEqual(['Sb']);
    expect(examplesIn(examples.apply(messages('CM', 'en'), 'CM', 'en')[0]!.content).map((example) => example.character)).toEqual(['Cm']);
  });

  it('returns the messages unchanged when there are no seeds of that kind', () => {
    const onlySbk = new FewShotExamples([seed('Sb', 'SBK', 'zh')]);
    expect(onlySbk.size).toBe(2);
    const cm = messages('CM', 'en');
    expect(onlySbk.apply(cm, 'CM', 'en')).toBe(cm);
    expect(onlySbk.apply(cm, 'CM', 'zh')).toBe(cm);
    const none = new FewShotExamples([]);
    expect(none.size).toBe(0);
    const sbk = messages('SBK', 'en');
    expect(none.apply(sbk, 'SBK', 'en')).toBe(sbk);
  });

  it('gives every slot of a kind and language the same system prompt, so the cached prefix still holds', () => {
    const examples = new FewShotExamples([seed('Bo', 'SBK', 'en'), seed('Cy', 'SBK', 'en')]);
    const systems = [0, 1, 2].map((index) => examples.apply(messages('SBK', 'en', index), 'SBK', 'en')[0]!.content);
    expect(new Set(systems).size).toBe(1);
    const noSystem: ChatMessage[] = [{ role: 'user', content: 'only a user turn' }];
    expect(examples.apply(noSystem, 'SBK', 'en')).toEqual(noSystem);
  });
});
