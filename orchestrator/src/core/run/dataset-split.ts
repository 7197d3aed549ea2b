import { hash32 } from '../profiles/rng.ts';

export function profileIdOf(sampleId: string): string {
  return sampleId.slice(0, sampleId.indexOf('/'));
}

/**
 * The profiles whose samples go to validation.json. Splitting by profile, never by sample, keeps every
 * character on one side. The chosen profiles are the `ratio` share of planned profiles with the lowest
 * seeded hash: stable across reruns and independent of which samples happen to be done.
 */
export function chooseValidationProfiles(profileIds: readonly string[], ratio: number, seed: number): Set<string> {
  const ranked = [...profileIds].sort((a, b) => hash32(`${seed}:${a}`) - hash32(`${seed}:${b}`) || (a < b ? -1 : 1));
  let count = Math.round(profileIds.length * ratio);
  // Any positive ratio with at least two profiles yields a non-empty validation set, and training keeps one.
  if (ratio > 0 && count === 0 && profileIds.length >= 2) count = 1;
  if (ratio < 1 && count === profileIds.length && profileIds.length >= 2) count = profileIds.length - 1;
  return new Set(ranked.slice(0, count));
}

/** The seed profiles of the iterative strategy: a seeded choice apart from the validation choice. */
export function chooseSeedProfiles(profileIds: readonly string[], count: number, seed: number): Set<string> {
  const ranked = [...profileIds].sort((a, b) => hash32(`${seed}:seed:${a}`) - hash32(`${seed}:seed:${b}`) || (a < b ? -1 : 1));
  return new Set(ranked.slice(0, Math.max(0, count)));
}
