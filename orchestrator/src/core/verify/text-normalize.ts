import { canonicalText } from './keyword-match.ts';

/** Question identity for duplicate detection: the keywords' canonical text, with punctuation and spaces removed. */
export function questionFingerprint(question: string): string {
  return canonicalText(question).replace(/[\s\p{P}\p{S}]+/gu, '');
}

const CJK = /[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]/gu;

/** Share of CJK characters among the non-space characters of a text. */
export function cjkRatio(text: string): number {
  const letters = text.replace(/\s+/gu, '').length;
  if (letters === 0) return 0;
  return (text.match(CJK)?.length ?? 0) / letters;
}

/**
 * Rough token count without a tokenizer: Claude and Qwen-class tokenizers spend about one token per CJK
 * character and about one per four characters of Latin text.
 */
export function estimateTokens(text: string): number {
  return tokensOf(textWeight(text));
}

/** What estimateTokens counts in a text, so the counts of parts add up to the count of the whole. */
export interface TextWeight {
  readonly cjk: number;
  readonly chars: number;
}

export function textWeight(text: string): TextWeight {
  return { cjk: text.match(CJK)?.length ?? 0, chars: text.length };
}

export function tokensOf(...parts: readonly TextWeight[]): number {
  let cjk = 0;
  let chars = 0;
  for (const part of parts) {
    cjk += part.cjk;
    chars += part.chars;
  }
  return Math.ceil(cjk + (chars - cjk) / 4);
}
