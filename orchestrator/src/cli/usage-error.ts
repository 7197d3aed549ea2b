/** A problem with the command line or its input that the user can fix; printed without a stack, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT = { ok: 0, failure: 1, usage: 2, incomplete: 3 } as const;
