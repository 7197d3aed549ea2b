import { buildReview } from '../candidate-review.ts';
import { runGeneration } from '../generation-run.ts';
import { requireBackend, type Strategy } from './strategy.ts';

/**
 * SGLang writes k candidates per slot, Bedrock judges each verified one (score 1-10 and a reason), and the
 * best at or above the minimum score is kept (then the quality gates, if any, get their say). Verdicts go
 * into the kept sample's metadata.judge and into rejects.jsonl for the rest.
 */
export const filterStrategy: Strategy = {
  name: 'filter',
  description: 'k SGLang candidates per slot, judged by Bedrock; the best passing one is kept',
  needs: { sglang: true, bedrock: false, judge: true },
  run(context) {
    const judge = requireBackend(context.backends, 'judge', 'filter');
    return runGeneration(
      {
        ...context.generation,
        backend: requireBackend(context.backends, 'sglang', 'filter'),
        strategy: 'filter',
        candidates: context.settings.candidates,
        review: buildReview({ judge: { backend: judge, minScore: context.settings.minScore }, gates: context.gates }),
      },
      context.counters,
    );
  },
};
