import { buildReview } from '../review/candidate-review.ts';
import { chooseSeedProfiles } from '../run/dataset-split.ts';
import { FewShotExamples } from '../prompts/few-shot.ts';
import { runGeneration } from '../run/generation-run.ts';
import { buildMessages } from '../prompts/prompts.ts';
import { countOfShare } from '../run/run-spec.ts';
import { chooseForEvaluation, evaluateSamples, summarizeEvaluation } from '../review/sample-evaluation.ts';
import type { Sample } from '../verify/sample.ts';
import type { Strategy } from './strategy.ts';

/**
 * Three steps: Bedrock writes every slot of the seed profiles (or an earlier run's samples are the seeds);
 * SGLang writes the rest with seeds as few-shot examples; the judge scores a seeded sample of the SGLang
 * output and the report gives the pass rate, which says whether the cheap model kept up.
 */
export const iterativeStrategy: Strategy = {
  name: 'iterative',
  description: 'Bedrock seeds, SGLang expands with the seeds as examples, the judge evaluates a sample',
  judge: 'finish',
  assign({ profileIds, spec }) {
    // With seeds from an earlier run, Bedrock writes none: every profile is expanded by SGLang.
    const seeds =
      spec.seedData !== undefined
        ? []
        : [...chooseSeedProfiles(profileIds, Math.max(1, countOfShare(spec.seedProfiles, profileIds.length)), spec.seed)];
    return { backend: 'sglang', otherBackend: seeds, seed: seeds };
  },
  async runPhase(context) {
    const review = buildReview({ gates: context.gates });
    if (context.phase === 'seed') {
      return runGeneration(
        {
          ...context.generation,
          backend: context.backend('bedrock'),
          strategy: 'iterative',
          metadataFor: () => ({ phase: 'seed' }),
          review,
        },
        context.counters,
      );
    }
    const examples = new FewShotExamples(await context.seeds());
    return runGeneration(
      {
        ...context.generation,
        backend: context.backend('sglang'),
        strategy: 'iterative',
        messagesFor: (profile, slot) => examples.apply(buildMessages(profile, slot), slot.kind, slot.language),
        metadataFor: () => ({ phase: 'expand', few_shot_seeds: examples.size > 0 }),
        review,
      },
      context.counters,
    );
  },
  async finish(context) {
    const output: Sample[] = [];
    for await (const sample of context.readSamples()) if (sample.metadata.phase === 'expand') output.push(sample);
    const judge = context.backend('judge');
    const { spec, counters } = context;
    const chosen = chooseForEvaluation(output, spec.evaluateSamples, spec.seed);
    const records = await evaluateSamples(chosen, judge, { minScore: spec.minScore, concurrency: context.concurrency });
    for (const record of records) {
      for (const call of record.judge_calls) {
        counters.requests++;
        counters.inputTokens += call.usage.input_tokens;
        counters.outputTokens += call.usage.output_tokens;
      }
    }
    const judgeModel =
      records.find((record) => record.judge_calls.length > 0)?.judge_calls[0]?.model ?? spec.judgeModel ?? spec.bedrockModel;
    return { summary: summarizeEvaluation(records, judgeModel, spec.minScore), records };
  },
  estimateShape: (spec) => ({ callsPerSlot: 1, judgeCallsPerSlot: 0, evaluationCalls: spec.evaluateSamples }),
  reportSection: (spec, assignment) => ({ seed_profiles: assignment.seed.length, seed_data: spec.seedData ?? null }),
};
