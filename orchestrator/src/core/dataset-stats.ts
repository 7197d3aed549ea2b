import type { DatasetSplit } from './dataset-split.ts';
import { profileIdOf } from './dataset-split.ts';
import type { Sample } from './sample.ts';

function countBy(samples: readonly Sample[], key: (sample: Sample) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const sample of samples) counts[key(sample)] = (counts[key(sample)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : Math.round((values.reduce((sum, value) => sum + value, 0) / values.length) * 10) / 10;
}

function describe(samples: readonly Sample[]) {
  return {
    samples: samples.length,
    profiles: new Set(samples.map((sample) => profileIdOf(sample.id))).size,
    by_kind: countBy(samples, (sample) => sample.metadata.kind),
    by_question_type: countBy(samples, (sample) => sample.question_type),
    by_difficulty: countBy(samples, (sample) => sample.difficulty),
    by_language: countBy(samples, (sample) => sample.metadata.language),
    by_validation_method: countBy(samples, (sample) => sample.validation_method),
    by_model: countBy(samples, (sample) => `${sample.metadata.backend}:${sample.metadata.model}`),
  };
}

/** dataset_stats.json: what the dataset holds, overall and per split. */
export function datasetStats(samples: readonly Sample[], split: DatasetSplit) {
  return {
    ...describe(samples),
    mean_keywords: mean(samples.map((sample) => sample.keywords.length)),
    mean_chars: {
      question: mean(samples.map((sample) => sample.question.length)),
      reasoning: mean(samples.map((sample) => sample.reasoning.length)),
      answer: mean(samples.map((sample) => sample.answer.length)),
      conversation_turns: mean(samples.filter((s) => s.metadata.kind === 'CM').map((sample) => sample.conversation_history.length)),
    },
    splits: { train: describe(split.train), validation: describe(split.validation) },
  };
}
