import { buildReview } from '../candidate-review.ts';
import { FewShotExamples } from '../few-shot.ts';
import { runGeneration, type EmptySlot } from '../generation-run.ts';
import { buildMessages } from '../prompts.ts';
import { chooseForEvaluation, evaluateSamples, summarizeEvaluation } from '../sample-evaluation.ts';
import type { Sample } from '../sample.ts';
import { requireBackend, type Strategy } from './strategy.ts';

const profileOf = (id: string) => id.slice(0, id.indexOf('/'));

/**
 * Three phases: Bedrock writes every slot of the seed profiles (or an earlier run's samples are the
 * seeds); SGLang writes the rest with seeds as few-shot examples; the judge scores a seeded sample of the
 * SGLang output and the report gives the pass rate, which says whether the cheap model kept up.
 */
export const iterativeStrategy: Strategy = {
  name: 'iterative',
  description: 'Bedrock seeds, SGLang expands with the seeds as examples, the judge evaluates a sample',
  needs: { sglang: true, bedrock: true, judge: true },
  async run(context) {
    const sglang = requireBackend(context.backends, 'sglang', 'iterative');
    const bedrock = requireBackend(context.backends, 'bedrock', 'iterative');
    const judge = requireBackend(context.backends, 'judge', 'iterative');
    const { settings, generation } = context;
    const review = buildReview({ gates: context.gates });
    const seedSlots = generation.slots.filter((slot) => settings.seedProfiles.has(slot.profileId));
    const expandSlots = generation.slots.filter((slot) => !settings.seedProfiles.has(slot.profileId));

    const seeding = await runGeneration({ ...generation, slots: seedSlots, backend: bedrock, strategy: 'iterative', metadataFor: () => ({ phase: 'seed' }), review }, context.counters);
    const emptySlots: EmptySlot[] = [...seeding.emptySlots];
    if (seeding.fatalError !== undefined) return { counters: context.counters, emptySlots, newSamples: seeding.newSamples, fatalError: seeding.fatalError };

    const seeds: Sample[] = [...(settings.seedData ?? [])];
    const expanded: Sample[] = [];
    for await (const sample of context.readSamples()) {
      if (settings.seedProfiles.has(profileOf(sample.id))) seeds.push(sample);
      else if (sample.metadata.backend === sglang.name) expanded.push(sample);
    }
    const examples = new FewShotExamples(seeds);
    const expansion = await runGeneration(
      {
        ...generation,
        slots: expandSlots,
        backend: sglang,
        strategy: 'iterative',
        messagesFor: (profile, slot) => examples.apply(buildMessages(profile, slot), slot.kind, slot.language),
        metadataFor: () => ({ phase: 'expand', few_shot_seeds: examples.size > 0 }),
        review,
      },
      context.counters,
    );
    emptySlots.push(...expansion.emptySlots);
    const newSamples = seeding.newSamples + expansion.newSamples;
    if (expansion.fatalError !== undefined) return { counters: context.counters, emptySlots, newSamples, fatalError: expansion.fatalError };

    // Reread: the expansion appended samples since the first read.
    const output: Sample[] = [];
    for await (const sample of context.readSamples()) {
      if (!settings.seedProfiles.has(profileOf(sample.id)) && sample.metadata.backend === sglang.name) output.push(sample);
    }
    const chosen = chooseForEvaluation(output, settings.evaluateCount, settings.seed);
    const records = await evaluateSamples(chosen, judge, { minScore: settings.minScore, concurrency: generation.concurrency });
    for (const record of records) {
      for (const call of record.judge_calls) {
        context.counters.requests++;
        context.counters.inputTokens += call.usage.input_tokens;
        context.counters.outputTokens += call.usage.output_tokens;
      }
    }
    const judgeModel = records.find((record) => record.judge_calls.length > 0)?.judge_calls[0]?.model ?? judge.name;
    return { counters: context.counters, emptySlots, newSamples, evaluation: { summary: summarizeEvaluation(records, judgeModel, settings.minScore), records } };
  },
};
