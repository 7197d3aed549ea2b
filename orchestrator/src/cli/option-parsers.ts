import { InvalidArgumentError } from 'commander';

export function integerAtLeast(min: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min)
      throw new InvalidArgumentError(`expected a whole number >= ${min}, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

export function integerBetween(min: number, max: number) {
  return (value: string): number => {
    const parsed = numberBetween(min, max)(value);
    if (!Number.isInteger(parsed))
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

export function numberBetween(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
}

/**
 * Node runs a timer of more than 2^31-1 ms (about 24.8 days) after 1 ms instead
 * (https://nodejs.org/api/timers.html#settimeoutcallback-delay-args): a time flag is bounded well below that,
 * by what the wait is for, so a typo refuses to start instead of abandoning every request at once.
 */
export function secondsUpTo(maxSeconds: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0 || parsed > maxSeconds)
      throw new InvalidArgumentError(`expected seconds above 0 and at most ${maxSeconds}, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

export function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError(`expected a positive number, got ${JSON.stringify(value)}`);
  return parsed;
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value))
      throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    return value as T;
  };
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A count of profiles (a whole number >= 1) or a share of them (a number between 0 and 1). */
export function profileShare(value: string): number {
  const parsed = Number(value);
  if ((Number.isInteger(parsed) && parsed >= 1) || (Number.isFinite(parsed) && parsed > 0 && parsed < 1)) return parsed;
  throw new InvalidArgumentError(`expected a number of profiles (e.g. 20) or a share of them (e.g. 0.1), got ${JSON.stringify(value)}`);
}
