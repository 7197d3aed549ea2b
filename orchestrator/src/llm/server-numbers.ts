/**
 * Numbers a server reports are data, not facts: a string, a negative count or 1e308 would otherwise flow
 * into the report's totals and costs ("0lots" tokens). Each is checked where it enters.
 */

/** More tokens than any model's context in one response: a server bug, not a count. */
const MAX_TOKENS_PER_RESPONSE = 100_000_000;

/** A server's answer that cannot be used as it is; the message names the field and the value. */
export class ServerDataError extends Error {
  override readonly name = 'ServerDataError';
}

/** A token count from a server's usage block: absent is 0 (some servers leave usage out); anything but a whole count in range is refused. */
export function tokenCount(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_TOKENS_PER_RESPONSE) return value;
  throw new ServerDataError(
    `the server reported ${field} = ${shown(value)}, which is not a token count (a whole number from 0 to ${MAX_TOKENS_PER_RESPONSE})`,
  );
}

/** A model name from a server: a short string, or the fallback (the name requested) when it sent anything else. */
export function modelName(value: unknown, fallback: string): string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256 ? value : fallback;
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value) ?? value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
