/**
 * A function of a string remembered for the last `limit` distinct arguments, then forgotten all at once:
 * the verifier asks for the same profile, question and keyword work many times per verdict, and a run's
 * working set is small, so a plain map cleared when full beats a real LRU on CPU.
 */
export function boundedMemo<T>(limit: number, compute: (text: string) => T): (text: string) => T {
  const memo = new Map<string, T>();
  return (text) => {
    let value = memo.get(text);
    if (value === undefined) {
      if (memo.size >= limit) memo.clear();
      value = compute(text);
      memo.set(text, value);
    }
    return value;
  };
}
