import { buildReview } from '../review/candidate-review.ts';
import { runGeneration } from '../run/generation-run.ts';
import { singleBackendAssignment, type Strategy } from './strategy.ts';

/** `sglang` or `bedrock`: every slot on one backend (quality gates still apply when configured). */
export function singleBackendStrategy(name: 'sglang' | 'bedrock'): Strategy {
  return {
    name,
    description: name === 'sglang' ? 'every slot on the SGLang endpoints' : 'every slot on Bedrock',
    judge: 'never',
    assign: () => singleBackendAssignment(name),
    runPhase: (context) =>
      runGeneration(
        { ...context.generation, backend: context.backend(name), strategy: name, review: buildReview({ gates: context.gates }) },
        context.counters,
      ),
    reportSection: () => ({}),
  };
}
