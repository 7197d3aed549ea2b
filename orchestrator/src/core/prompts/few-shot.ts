import type { Language } from '../verify/language.ts';
import type { ChatMessage } from './prompts.ts';
import type { Sample, SampleKind } from '../verify/sample.ts';

/** Examples per prompt: enough to show the style, few enough to keep the shared prefix short. */
export const EXAMPLES_PER_PROMPT = 2;

const HEADER: Record<Language, string> = {
  en: 'Examples of accepted samples for other characters. Match their quality and style; never copy their facts, names or keywords:',
  zh: '以下是其他角色的合格样本示例。学习它们的质量和风格，但绝不要照搬其中的事实、人名或关键词：',
};

/** A seed in the order the schema asks for its fields: keywords before the reasoning and the answer. */
function exampleJson(sample: Sample): string {
  const distractor = sample.metadata.distractor;
  return JSON.stringify({
    character: sample.character_name,
    ...(sample.metadata.kind === 'CM'
      ? { conversation_history: sample.conversation_history, ...(typeof distractor === 'string' ? { distractor } : {}) }
      : {}),
    question_type: sample.question_type,
    question: sample.question,
    keywords: sample.keywords,
    // Seeds of runs before keyword alternatives existed have none.
    keyword_alternatives: sample.keyword_alternatives ?? sample.keywords.map(() => []),
    reasoning: sample.reasoning,
    answer: sample.answer,
    difficulty: sample.difficulty,
  });
}

/**
 * Seeds (samples a stronger model wrote) as few-shot examples. They go into the system prompt, the same
 * for every slot of a kind and language, so the prompt cache still covers instructions and examples.
 */
export class FewShotExamples {
  private readonly blocks = new Map<string, string>();

  constructor(seeds: readonly Sample[], perPrompt = EXAMPLES_PER_PROMPT) {
    for (const kind of ['SBK', 'CM'] as const) {
      for (const language of ['zh', 'en'] as const) {
        const sameKind = seeds.filter((seed) => seed.metadata.kind === kind);
        // Prefer the slot's language; fall back to any, since style carries over better than nothing.
        const chosen = [
          ...sameKind.filter((seed) => seed.metadata.language === language),
          ...sameKind.filter((seed) => seed.metadata.language !== language),
        ].slice(0, perPrompt);
        if (chosen.length > 0)
          this.blocks.set(
            `${kind}/${language}`,
            `${HEADER[language]}\n${chosen.map((seed) => `<example>\n${exampleJson(seed)}\n</example>`).join('\n')}`,
          );
      }
    }
  }

  get size(): number {
    return this.blocks.size;
  }

  /** The slot's messages with examples appended to the system prompt (unchanged when there are none). */
  apply(messages: ChatMessage[], kind: SampleKind, language: Language): ChatMessage[] {
    const block = this.blocks.get(`${kind}/${language}`);
    if (block === undefined) return messages;
    return messages.map((message) => (message.role === 'system' ? { ...message, content: `${message.content}\n\n${block}` } : message));
  }
}
