import { cjkRatio } from './text-normalize.ts';

/** The two languages samples are written in: prompts ask for one, and an answer is checked against it. */
export type Language = 'zh' | 'en';

/** A text is Chinese when at least a fifth of its non-space characters are CJK. */
export function detectLanguage(text: string): Language {
  return cjkRatio(text) >= 0.2 ? 'zh' : 'en';
}
