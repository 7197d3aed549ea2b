/**
 * Text from a file or a server, made safe to print on a terminal: a profile line holding ESC sequences
 * could otherwise recolour, retitle or rewrite the user's terminal, and a CR or newline could forge lines.
 */
// Control characters (tab aside), DEL, C1, and the bidirectional overrides that reorder what is shown.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's job
const UNPRINTABLE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
