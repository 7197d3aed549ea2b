import type { RunStore } from '../store/run-store.ts';
import { datasetStats } from './dataset-stats.ts';
import { profileIdOf, splitByProfile, type DatasetSplit } from './dataset-split.ts';
import type { Sample } from './sample.ts';

export interface FinalizeOptions {
  readonly profileIds: readonly string[];
  readonly validationRatio: number;
  readonly seed: number;
}

export interface FinalizedDataset {
  readonly samples: Sample[];
  readonly split: DatasetSplit;
}

/** Writes train.json, validation.json and dataset_stats.json from every accepted sample in the store. */
export async function finalizeRun(store: RunStore, options: FinalizeOptions): Promise<FinalizedDataset> {
  const samples = await store.loadSamples();
  const planned = new Set(options.profileIds);
  const inPlan = samples.filter((sample) => planned.has(profileIdOf(sample.id)));
  const split = splitByProfile(inPlan, options.profileIds, options.validationRatio, options.seed);
  await store.writeJson('train.json', split.train);
  await store.writeJson('validation.json', split.validation);
  await store.writeJson('dataset_stats.json', datasetStats(inPlan, split));
  return { samples: inPlan, split };
}
