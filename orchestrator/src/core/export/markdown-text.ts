/**
 * Text from a server or a file (a model id) made safe inside a Markdown document such as the dataset card:
 * a backtick would close its code span, and a blank line would end its paragraph, so that what follows
 * renders as Markdown (an image that loads from anywhere, a `javascript:` link).
 */

// Control characters (line breaks among them), DEL, C1, and the bidirectional overrides that reorder what is shown.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's job
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * `text` as one inline code span: control characters written as `\uXXXX`, and a fence of one backtick more
 * than the longest run inside, padded with spaces when the text starts or ends with a backtick
 * (https://spec.commonmark.org/0.31.2/#code-spans).
 */
export function codeSpan(text: string): string {
  const shown = text.replace(UNPRINTABLE, (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
  const longest = Math.max(0, ...[...shown.matchAll(/`+/gu)].map((run) => run[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = shown.startsWith('`') || shown.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${shown}${pad}${fence}`;
}
