/** Reasoning models (DeepSeek-R1, Qwen3) may think aloud before the JSON; the sample is what follows. */
export function stripThinking(text: string): string {
  // Most outputs have no thinking block: skip the regexes (a measurable share of allocation at 1,000+ req/s).
  if (!/<\/think>/iu.test(text)) return text.trim();
  return text
    .replace(/<think>[\s\S]*?<\/think>/giu, '')
    .replace(/^[\s\S]*<\/think>/iu, '')
    .trim();
}

export type ParsedOutput = { ok: true; value: unknown } | { ok: false; error: string };

/** Parses the model's JSON answer, tolerating thinking blocks and a Markdown code fence around it. */
export function parseModelJson(raw: string): ParsedOutput {
  let text = stripThinking(raw);
  const fenced = text.startsWith('```') ? /^```(?:json)?\s*([\s\S]*?)\s*```$/iu.exec(text) : null;
  if (fenced) text = fenced[1] ?? '';
  if (text.length === 0) return { ok: false, error: 'empty output' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start >= 0 && end > start) {
      try {
        return { ok: true, value: JSON.parse(text.slice(start, end + 1)) };
      } catch {
        // fall through to the original error, which points at the real problem
      }
    }
    return { ok: false, error: (error as Error).message };
  }
}
