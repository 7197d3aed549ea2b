import { buildReview } from '../review/candidate-review.ts';
import { runGeneration } from '../run/generation-run.ts';
import { backendOfProfile, type Strategy } from './strategy.ts';

/**
 * Training profiles on SGLang (cheap, high volume), the validation profiles on Bedrock: a gold set from a
 * stronger model to measure the trained model against. The split is the run's own validation split, so
 * validation.json is exactly the Bedrock-written set.
 */
export const tieredStrategy: Strategy = {
  name: 'tiered',
  description: 'training profiles on SGLang, validation profiles on Bedrock',
  judge: 'never',
  assign: ({ validationProfiles }) => ({ backend: 'sglang', otherBackend: [...validationProfiles], seed: [] }),
  runPhase(context) {
    const backendOf = (profileId: string) => backendOfProfile(context.assignment, profileId);
    return runGeneration(
      {
        ...context.generation,
        strategy: 'tiered',
        // A workflow batch holds one backend's profiles only, so only that backend is ever asked for.
        backendFor: (slot) => context.backend(backendOf(slot.profileId)),
        metadataFor: (slot) => ({ tier: backendOf(slot.profileId) === 'bedrock' ? 'validation' : 'train' }),
        review: buildReview({ gates: context.gates }),
      },
      context.counters,
    );
  },
  reportSection: (_spec, assignment) => ({ validation_profiles_on_bedrock: assignment.otherBackend.length }),
};
