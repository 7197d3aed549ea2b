import { canonicalText, isSpaceUnit } from './keyword-match.ts';

/** Question identity for duplicate detection: the keywords' canonical text, with punctuation and spaces removed. */
export function questionFingerprint(question: string): string {
  return canonicalText(question).replace(/[\s\p{P}\p{S}]+/gu, '');
}

/** CJK ideographs, kana and Hangul: about one token each. All are BMP code units. */
function isCjkUnit(unit: number): boolean {
  return (
    (unit >= 0x3400 && unit <= 0x9fff) ||
    (unit >= 0xf900 && unit <= 0xfaff) ||
    (unit >= 0x3040 && unit <= 0x30ff) ||
    (unit >= 0xac00 && unit <= 0xd7af)
  );
}

/**
 * The CJK code units and the code units that are no space, counted in one pass over the text (a regular
 * expression's match list and a copy without spaces cost each profile of a large run two allocations of its size).
 */
function countUnits(text: string): { readonly cjk: number; readonly nonSpace: number } {
  let cjk = 0;
  let nonSpace = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (isSpaceUnit(unit)) continue;
    nonSpace++;
    if (isCjkUnit(unit)) cjk++;
  }
  return { cjk, nonSpace };
}

/** Share of CJK characters among the non-space characters of a text. */
export function cjkRatio(text: string): number {
  const { cjk, nonSpace } = countUnits(text);
  return nonSpace === 0 ? 0 : cjk / nonSpace;
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
  return { cjk: countUnits(text).cjk, chars: text.length };
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
