import type { LlmBackend } from '../ports/llm-backend.ts';
import { judgeSample } from './judge.ts';
import type { SampleContent } from '../verify/keyword-verifier.ts';
import { renderProfileText } from '../profiles/profile.ts';
import { hash32 } from '../profiles/rng.ts';
import type { ReviewCall, Sample } from '../verify/sample.ts';

/** The judge's verdicts on the evaluated samples, one per line, in the run directory. */
export const EVALUATION_FILE = 'evaluation.jsonl';

/** One line of evaluation.jsonl: the judge's verdict on one accepted sample. */
export interface EvaluationRecord {
  readonly sample_id: string;
  readonly sample_backend: string;
  readonly sample_model: string;
  readonly score: number | null;
  readonly reason: string;
  readonly passed: boolean;
  readonly judge_calls: readonly ReviewCall[];
}

export interface EvaluationSummary {
  readonly judge_model: string;
  readonly min_score: number;
  readonly judged: number;
  readonly passed: number;
  readonly failed: number;
  /** Samples the judge gave no usable verdict for; they count neither as passed nor as failed. */
  readonly errors: number;
  readonly pass_rate: number | null;
  readonly mean_score: number | null;
  /** Pass rate per `backend:model` that wrote the samples. */
  readonly by_model: Record<string, { judged: number; passed: number; pass_rate: number | null }>;
  readonly score_histogram: Record<string, number>;
}

/** A seeded, stable choice of `count` samples (all when count >= samples), so a rerun judges the same ones. */
export function chooseForEvaluation(samples: readonly Sample[], count: number, seed: number): Sample[] {
  if (count >= samples.length) return [...samples];
  return [...samples]
    .sort((a, b) => hash32(`${seed}:eval:${a.id}`) - hash32(`${seed}:eval:${b.id}`) || (a.id < b.id ? -1 : 1))
    .slice(0, count);
}

function contentOf(sample: Sample): SampleContent {
  return {
    question: sample.question,
    reasoning: sample.reasoning,
    answer: sample.answer,
    keywords: [...sample.keywords],
    question_type: sample.question_type,
    difficulty: sample.difficulty,
    conversation_history: [...sample.conversation_history],
  };
}

/** Judges each sample against its own stored profile, `concurrency` at a time. */
export async function evaluateSamples(
  samples: readonly Sample[],
  judge: LlmBackend,
  options: { readonly minScore: number; readonly concurrency: number },
): Promise<EvaluationRecord[]> {
  const records: EvaluationRecord[] = new Array(samples.length);
  let next = 0;
  const worker = async () => {
    while (next < samples.length) {
      const index = next++;
      const sample = samples[index] as Sample;
      const outcome = await judgeSample(
        judge,
        { text: renderProfileText({ ...sample.character_profile }) },
        sample.metadata.kind,
        contentOf(sample),
        'evaluation',
      );
      records[index] = {
        sample_id: sample.id,
        sample_backend: sample.metadata.backend,
        sample_model: sample.metadata.model,
        score: outcome.ok ? outcome.verdict.score : null,
        reason: outcome.ok ? outcome.verdict.reason : outcome.error,
        passed: outcome.ok && outcome.verdict.score >= options.minScore,
        judge_calls: outcome.ok ? [outcome.verdict.call] : outcome.calls,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, samples.length)) }, worker));
  return records;
}

const rate = (passed: number, judged: number) => (judged === 0 ? null : Math.round((passed / judged) * 1000) / 1000);

export function summarizeEvaluation(records: readonly EvaluationRecord[], judgeModel: string, minScore: number): EvaluationSummary {
  const scored = records.filter((record) => record.score !== null);
  const passed = scored.filter((record) => record.passed).length;
  const byModel: EvaluationSummary['by_model'] = {};
  const histogram: Record<string, number> = {};
  for (const record of scored) {
    const row = (byModel[`${record.sample_backend}:${record.sample_model}`] ??= { judged: 0, passed: 0, pass_rate: null });
    row.judged++;
    if (record.passed) row.passed++;
    row.pass_rate = rate(row.passed, row.judged);
    histogram[String(record.score)] = (histogram[String(record.score)] ?? 0) + 1;
  }
  return {
    judge_model: judgeModel,
    min_score: minScore,
    judged: scored.length,
    passed,
    failed: scored.length - passed,
    errors: records.length - scored.length,
    pass_rate: rate(passed, scored.length),
    mean_score:
      scored.length === 0 ? null : Math.round((scored.reduce((sum, record) => sum + (record.score ?? 0), 0) / scored.length) * 100) / 100,
    by_model: byModel,
    score_histogram: histogram,
  };
}
