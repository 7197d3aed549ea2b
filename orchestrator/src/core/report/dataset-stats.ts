import type { Sample } from '../verify/sample.ts';

type Counts = Record<string, number>;

function bump(counts: Counts, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function sorted(counts: Counts): Counts {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Counts of one set of samples, accumulated one sample at a time so no dataset has to fit in memory. */
class SplitCounter {
  samples = 0;
  private readonly profiles = new Set<string>();
  private readonly kind: Counts = {};
  private readonly questionType: Counts = {};
  private readonly difficulty: Counts = {};
  private readonly language: Counts = {};
  private readonly validationMethod: Counts = {};
  private readonly model: Counts = {};

  add(sample: Sample, profileId: string): void {
    this.samples++;
    this.profiles.add(profileId);
    bump(this.kind, sample.metadata.kind);
    bump(this.questionType, sample.question_type);
    bump(this.difficulty, sample.difficulty);
    bump(this.language, sample.metadata.language);
    bump(this.validationMethod, sample.validation_method);
    bump(this.model, `${sample.metadata.backend}:${sample.metadata.model}`);
  }

  result() {
    return {
      samples: this.samples,
      profiles: this.profiles.size,
      by_kind: sorted(this.kind),
      by_question_type: sorted(this.questionType),
      by_difficulty: sorted(this.difficulty),
      by_language: sorted(this.language),
      by_validation_method: sorted(this.validationMethod),
      by_model: sorted(this.model),
    };
  }
}

const mean = (sum: number, count: number) => (count === 0 ? 0 : Math.round((sum / count) * 10) / 10);

/** dataset_stats.json: what the dataset holds, overall and per split. */
export class DatasetStats {
  private readonly all = new SplitCounter();
  private readonly train = new SplitCounter();
  private readonly validation = new SplitCounter();
  private keywords = 0;
  private questionChars = 0;
  private reasoningChars = 0;
  private answerChars = 0;
  private cmSamples = 0;
  private cmTurns = 0;

  add(sample: Sample, profileId: string, inValidation: boolean): void {
    this.all.add(sample, profileId);
    (inValidation ? this.validation : this.train).add(sample, profileId);
    this.keywords += sample.keywords.length;
    this.questionChars += sample.question.length;
    this.reasoningChars += sample.reasoning.length;
    this.answerChars += sample.answer.length;
    if (sample.metadata.kind === 'CM') {
      this.cmSamples++;
      this.cmTurns += sample.conversation_history.length;
    }
  }

  result() {
    const n = this.all.samples;
    return {
      ...this.all.result(),
      mean_keywords: mean(this.keywords, n),
      mean_chars: {
        question: mean(this.questionChars, n),
        reasoning: mean(this.reasoningChars, n),
        answer: mean(this.answerChars, n),
        conversation_turns: mean(this.cmTurns, this.cmSamples),
      },
      splits: { train: this.train.result(), validation: this.validation.result() },
    };
  }
}

export type DatasetStatsResult = ReturnType<DatasetStats['result']>;
