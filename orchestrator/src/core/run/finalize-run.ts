import type { RunStore } from '../ports/run-store.ts';
import { DatasetStats, type DatasetStatsResult } from '../report/dataset-stats.ts';
import { chooseValidationProfiles, profileIdOf } from './dataset-split.ts';

export interface FinalizeOptions {
  readonly profileIds: readonly string[];
  readonly validationRatio: number;
  readonly seed: number;
}

export interface ModelUsage {
  samples: number;
  rejects: number;
  input_tokens: number;
  output_tokens: number;
}

/** What the finished dataset holds, summarised for the report without keeping the samples in memory. */
export interface DatasetSummary {
  readonly samples: number;
  readonly train: number;
  readonly validation: number;
  readonly validationProfiles: number;
  readonly stats: DatasetStatsResult;
  readonly rejects: number;
  readonly rejectsByReason: Record<string, number>;
  /** Tokens per `backend:model` over every response this run directory has seen (accepted or rejected). */
  readonly usageByModel: Record<string, ModelUsage>;
}

/**
 * Writes train.json, validation.json (JSON arrays, one sample per line, in acceptance order) and
 * dataset_stats.json in two streaming passes over samples.jsonl, one per split file, so memory stays flat
 * however large the run: every sample goes straight from the read to its file, and none is held.
 */
export async function finalizeRun(store: RunStore, options: FinalizeOptions): Promise<DatasetSummary> {
  const planned = new Set(options.profileIds);
  const validationProfiles = chooseValidationProfiles(options.profileIds, options.validationRatio, options.seed);
  const stats = new DatasetStats();
  const usageByModel: Record<string, ModelUsage> = {};
  const usage = (backend: string, model: string) =>
    (usageByModel[`${backend}:${model}`] ??= { samples: 0, rejects: 0, input_tokens: 0, output_tokens: 0 });

  // The first pass counts every sample and writes the training ones; the second writes the validation ones.
  const split = async function* (validation: boolean) {
    for await (const sample of store.readSamples()) {
      const profileId = profileIdOf(sample.id);
      if (!planned.has(profileId)) continue;
      const inValidation = validationProfiles.has(profileId);
      if (!validation) {
        stats.add(sample, profileId, inValidation);
        const row = usage(sample.metadata.backend, sample.metadata.model);
        row.samples++;
        row.input_tokens += sample.metadata.usage.input_tokens;
        row.output_tokens += sample.metadata.usage.output_tokens;
      }
      if (inValidation === validation) yield JSON.stringify(sample);
    }
  };
  await store.writeLines('train.json', jsonArrayLines(split(false)));
  await store.writeLines('validation.json', jsonArrayLines(split(true)));
  const dataset = stats.result();
  await store.writeJson('dataset_stats.json', dataset);

  let rejects = 0;
  const rejectsByReason: Record<string, number> = {};
  for await (const reject of store.readRejects()) {
    // Like the samples: only the planned profiles' records describe this dataset.
    if (!planned.has(profileIdOf(reject.slot_id))) continue;
    rejects++;
    rejectsByReason[reject.reason] = (rejectsByReason[reject.reason] ?? 0) + 1;
    if (reject.model === '') continue;
    const row = usage(reject.backend, reject.model);
    row.rejects++;
    row.input_tokens += reject.usage.input_tokens;
    row.output_tokens += reject.usage.output_tokens;
  }
  return {
    samples: dataset.samples,
    train: dataset.splits.train.samples,
    validation: dataset.splits.validation.samples,
    validationProfiles: validationProfiles.size,
    stats: dataset,
    rejects,
    rejectsByReason,
    usageByModel,
  };
}

/** A JSON array written line by line: `[`, one compact sample per line with commas, `]`. */
async function* jsonArrayLines(lines: AsyncIterable<string>): AsyncGenerator<string> {
  let previous: string | undefined;
  yield '[';
  for await (const line of lines) {
    if (previous !== undefined) yield `${previous},`;
    previous = line;
  }
  if (previous !== undefined) yield previous;
  yield ']';
}
