import { buildReview } from '../candidate-review.ts';
import { runGeneration } from '../generation-run.ts';
import { requireBackend, type Strategy } from './strategy.ts';

/**
 * Training profiles on SGLang (cheap, high volume), the validation profiles on Bedrock: a gold set from a
 * stronger model to measure the trained model against. The split is the run's own validation split, so
 * validation.json is exactly the Bedrock-written set.
 */
export const tieredStrategy: Strategy = {
  name: 'tiered',
  description: 'training profiles on SGLang, validation profiles on Bedrock',
  needs: { sglang: true, bedrock: true, judge: false },
  async run(context) {
    const sglang = requireBackend(context.backends, 'sglang', 'tiered');
    const bedrock = requireBackend(context.backends, 'bedrock', 'tiered');
    const { validationProfiles } = context.settings;
    const gold = (profileId: string) => validationProfiles.has(profileId);
    return runGeneration(
      {
        ...context.generation,
        backend: sglang,
        strategy: 'tiered',
        backendFor: (slot) => (gold(slot.profileId) ? bedrock : sglang),
        metadataFor: (slot) => ({ tier: gold(slot.profileId) ? 'validation' : 'train' }),
        review: buildReview({ gates: context.gates }),
      },
      context.counters,
    );
  },
};
