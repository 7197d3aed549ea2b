import { hash32 } from './rng.ts';
import type { Sample } from './sample.ts';

export interface DatasetSplit {
  readonly train: Sample[];
  readonly validation: Sample[];
  readonly validationProfiles: string[];
}

export function profileIdOf(sampleId: string): string {
  return sampleId.slice(0, sampleId.indexOf('/'));
}

/**
 * Splits by profile, never by sample, so no character appears in both files. The validation profiles are
 * the `ratio` share of planned profiles with the lowest seeded hash: stable across reruns and independent
 * of which samples happen to be done.
 */
export function splitByProfile(samples: readonly Sample[], profileIds: readonly string[], ratio: number, seed: number): DatasetSplit {
  const ranked = [...profileIds].sort((a, b) => hash32(`${seed}:${a}`) - hash32(`${seed}:${b}`) || (a < b ? -1 : 1));
  let count = Math.round(profileIds.length * ratio);
  // Any positive ratio with at least two profiles yields a non-empty validation set, and training keeps one.
  if (ratio > 0 && count === 0 && profileIds.length >= 2) count = 1;
  if (ratio < 1 && count === profileIds.length && profileIds.length >= 2) count = profileIds.length - 1;
  const validationProfiles = new Set(ranked.slice(0, count));
  const sorted = [...samples].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    train: sorted.filter((sample) => !validationProfiles.has(profileIdOf(sample.id))),
    validation: sorted.filter((sample) => validationProfiles.has(profileIdOf(sample.id))),
    validationProfiles: [...validationProfiles].sort(),
  };
}
