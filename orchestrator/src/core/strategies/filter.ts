import { buildReview } from '../review/candidate-review.ts';
import { runGeneration } from '../run/generation-run.ts';
import { singleBackendAssignment, type Strategy } from './strategy.ts';

/**
 * SGLang writes k candidates per slot, Bedrock judges each verified one (score 1-10 and a reason), and the
 * best at or above the minimum score is kept (then the quality gates, if any, get their say). Verdicts go
 * into the kept sample's metadata.judge and into rejects.jsonl for the rest.
 */
export const filterStrategy: Strategy = {
  name: 'filter',
  description: 'k SGLang candidates per slot, judged by Bedrock; the best passing one is kept',
  judge: 'generation',
  assign: () => singleBackendAssignment('sglang'),
  runPhase(context) {
    const { spec } = context;
    return runGeneration(
      {
        ...context.generation,
        backend: context.backend('sglang'),
        strategy: 'filter',
        candidates: spec.candidates,
        review: buildReview({ judge: { backend: context.backend('judge'), minScore: spec.minScore }, gates: context.gates }),
      },
      context.counters,
    );
  },
  estimateShape: (spec) => ({ callsPerSlot: spec.candidates, judgeCallsPerSlot: spec.candidates, evaluationCalls: 0 }),
  reportSection: (spec) => ({ candidates: spec.candidates, min_score: spec.minScore, judge_model: spec.judgeModel ?? spec.bedrockModel }),
};
