import type { LlmBackend } from '../ports/llm-backend.ts';
import { buildReview } from '../candidate-review.ts';
import { profileIdOf } from '../dataset-split.ts';
import { FewShotExamples } from '../few-shot.ts';
import { runGeneration, type EmptySlot, type GenerationCounters, type GenerationOutcome } from '../generation-run.ts';
import type { Slot } from '../plan.ts';
import { buildMessages } from '../prompts.ts';
import { chooseForEvaluation, evaluateSamples, summarizeEvaluation } from '../sample-evaluation.ts';
import type { Sample } from '../sample.ts';
import { requireBackend, type Strategy, type StrategyContext, type StrategyOutcome } from './strategy.ts';

/**
 * Three phases: Bedrock writes every slot of the seed profiles (or an earlier run's samples are the
 * seeds); SGLang writes the rest with seeds as few-shot examples; the judge scores a seeded sample of the
 * SGLang output and the report gives the pass rate, which says whether the cheap model kept up.
 *
 * The phases are exported on their own: the AWS workflow runs them in separate states (seed batches, then
 * expansion batches, then the evaluation in Finalize).
 */
export const iterativeStrategy: Strategy = {
  name: 'iterative',
  description: 'Bedrock seeds, SGLang expands with the seeds as examples, the judge evaluates a sample',
  needs: { sglang: true, bedrock: true, judge: true },
  async run(context) {
    const sglang = requireBackend(context.backends, 'sglang', 'iterative');
    const judge = requireBackend(context.backends, 'judge', 'iterative');
    const { settings, generation } = context;
    const isSeed = (id: string) => settings.seedProfiles.has(profileIdOf(id));
    const seeding = await runSeedPhase(context, generation.slots.filter((slot) => isSeed(slot.id)));
    const emptySlots: EmptySlot[] = [...seeding.emptySlots];
    if (seeding.fatalError !== undefined) return { counters: context.counters, emptySlots, newSamples: seeding.newSamples, fatalError: seeding.fatalError };

    const seeds: Sample[] = [...(settings.seedData ?? [])];
    for await (const sample of context.readSamples()) if (isSeed(sample.id)) seeds.push(sample);
    const expansion = await runExpandPhase(context, generation.slots.filter((slot) => !isSeed(slot.id)), seeds);
    emptySlots.push(...expansion.emptySlots);
    const newSamples = seeding.newSamples + expansion.newSamples;
    if (expansion.fatalError !== undefined) return { counters: context.counters, emptySlots, newSamples, fatalError: expansion.fatalError };

    // Reread: the expansion appended samples since the first read.
    const output: Sample[] = [];
    for await (const sample of context.readSamples()) if (!isSeed(sample.id) && sample.metadata.backend === sglang.name) output.push(sample);
    const evaluation = await evaluateOutput(output, judge, { ...settings, concurrency: generation.concurrency }, context.counters);
    return { counters: context.counters, emptySlots, newSamples, evaluation };
  },
};

/** Seed phase: Bedrock writes `slots` (the seed profiles' slots). */
export function runSeedPhase(context: StrategyContext, slots: readonly Slot[]): Promise<GenerationOutcome> {
  const bedrock = requireBackend(context.backends, 'bedrock', 'iterative');
  return runGeneration(
    { ...context.generation, slots, backend: bedrock, strategy: 'iterative', metadataFor: () => ({ phase: 'seed' }), review: buildReview({ gates: context.gates }) },
    context.counters,
  );
}

/** Expansion phase: SGLang writes `slots` with `seeds` as few-shot examples. */
export function runExpandPhase(context: StrategyContext, slots: readonly Slot[], seeds: readonly Sample[]): Promise<GenerationOutcome> {
  const sglang = requireBackend(context.backends, 'sglang', 'iterative');
  const examples = new FewShotExamples(seeds);
  return runGeneration(
    {
      ...context.generation,
      slots,
      backend: sglang,
      strategy: 'iterative',
      messagesFor: (profile, slot) => examples.apply(buildMessages(profile, slot), slot.kind, slot.language),
      metadataFor: () => ({ phase: 'expand', few_shot_seeds: examples.size > 0 }),
      review: buildReview({ gates: context.gates }),
    },
    context.counters,
  );
}

export interface EvaluationSettings {
  readonly evaluateCount: number;
  readonly minScore: number;
  readonly seed: number;
  readonly concurrency: number;
}

/** Evaluation phase: the judge scores a seeded choice of `output`; its calls are added to `counters`. */
export async function evaluateOutput(output: readonly Sample[], judge: LlmBackend, settings: EvaluationSettings, counters: GenerationCounters): Promise<NonNullable<StrategyOutcome['evaluation']>> {
  const chosen = chooseForEvaluation(output, settings.evaluateCount, settings.seed);
  const records = await evaluateSamples(chosen, judge, { minScore: settings.minScore, concurrency: settings.concurrency });
  for (const record of records) {
    for (const call of record.judge_calls) {
      counters.requests++;
      counters.inputTokens += call.usage.input_tokens;
      counters.outputTokens += call.usage.output_tokens;
    }
  }
  const judgeModel = records.find((record) => record.judge_calls.length > 0)?.judge_calls[0]?.model ?? judge.name;
  return { summary: summarizeEvaluation(records, judgeModel, settings.minScore), records };
}
