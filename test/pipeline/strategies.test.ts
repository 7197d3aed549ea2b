/**
 * Every strategy, run in process on scripted backends: which backend writes which profile, in which order
 * the phases run, what the judge and the gates decide, and the report section each strategy adds.
 */
import { describe, expect, it } from 'vitest';
import { profileIdOf } from '../../orchestrator/src/core/run/dataset-split.ts';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { runInProcess } from './run-in-process.ts';

const kinds = (samples: readonly Sample[]) => new Set(samples.map((sample) => sample.metadata.backend));
const validationIds = (run: Awaited<ReturnType<typeof runInProcess>>) => {
  const lines = run.store.files.get('validation.json') as string[];
  return (JSON.parse(lines.join('\n')) as Sample[]).map((sample) => sample.id);
};

describe('strategies in process', () => {
  it('sglang: every slot on SGLang; the report says so and counts every call', async () => {
    const run = await runInProcess({ spec: { strategy: 'sglang', includeCm: true } });
    expect(run.report.status).toBe('complete');
    expect(kinds(run.store.samples)).toEqual(new Set(['sglang']));
    expect(run.report.strategy).toMatchObject({ name: 'sglang', gates: [], models: ['sglang:qwen-sim'] });
    expect(run.report.samples.accepted).toBe(run.prepared.plan.slots.total);
    expect(run.report.requests.this_invocation).toBe(run.backend('sglang').calls.length);
    expect([...run.backends.keys()]).toEqual(['sglang:qwen-sim']);
  });

  it('bedrock: every slot on Bedrock, priced from the table; no SGLang backend is connected', async () => {
    const run = await runInProcess({ spec: { strategy: 'bedrock' } });
    expect(kinds(run.store.samples)).toEqual(new Set(['bedrock']));
    expect([...run.backends.keys()].every((key) => key.startsWith('bedrock:'))).toBe(true);
    expect(run.report.backends.bedrock?.usd).toBeGreaterThan(0);
    expect(run.report.cost.sglang).toBeNull();
  });

  it('tiered: exactly the validation profiles are written on Bedrock, and validation.json is that set', async () => {
    const run = await runInProcess({ profiles: undefined, spec: { strategy: 'tiered', validationProfiles: 2 } });
    const onBedrock = new Set(run.store.samples.filter((s) => s.metadata.backend === 'bedrock').map((s) => profileIdOf(s.id)));
    expect(onBedrock.size).toBe(2);
    expect(new Set(validationIds(run).map(profileIdOf))).toEqual(onBedrock);
    for (const sample of run.store.samples)
      expect(sample.metadata.tier).toBe(onBedrock.has(profileIdOf(sample.id)) ? 'validation' : 'train');
    expect(run.report.strategy).toMatchObject({ name: 'tiered', validation_profiles_on_bedrock: 2 });
  });

  it('filter: k SGLang candidates per slot, each judged; the best at or above the minimum score is kept', async () => {
    // The judge scores candidates 6, 9, 8, 6, 9, 8, ...: the second of every three is the best.
    const scores = [6, 9, 8];
    const run = await runInProcess({
      spec: { strategy: 'filter', candidates: 3, minScore: 7 },
      script: { bedrock: { judgeScore: (n) => scores[(n - 1) % 3] ?? 1 } },
    });
    const slots = run.prepared.plan.slots.total;
    expect(run.backend('sglang').calls).toHaveLength(3 * slots);
    expect(run.backend('bedrock').count('raiden_judge_verdict')).toBe(3 * slots);
    for (const sample of run.store.samples) expect(sample.metadata.judge).toMatchObject({ score: 9, min_score: 7 });
    const reasons = run.store.rejects.map((reject) => reject.reason).sort();
    expect(reasons.filter((r) => r === 'judge_below_min_score')).toHaveLength(slots);
    expect(reasons.filter((r) => r === 'judge_not_best')).toHaveLength(slots);
    expect(run.report.strategy).toMatchObject({ name: 'filter', candidates: 3, min_score: 7 });
    expect(run.report.backends.bedrock?.review_calls).toBe(3 * slots);
  });

  it('iterative: Bedrock writes the seed profiles first, SGLang expands the rest with them as examples, the judge evaluates', async () => {
    const run = await runInProcess({ spec: { strategy: 'iterative', seedProfiles: 1, evaluateSamples: 2 } });
    const [seedProfile] = run.prepared.plan.assignment.seed;
    const seeds = run.store.samples.filter((s) => profileIdOf(s.id) === seedProfile);
    expect(seeds.length).toBeGreaterThan(0);
    expect(seeds.every((s) => s.metadata.backend === 'bedrock' && s.metadata.phase === 'seed')).toBe(true);
    const expanded = run.store.samples.filter((s) => profileIdOf(s.id) !== seedProfile);
    expect(
      expanded.every((s) => s.metadata.backend === 'sglang' && s.metadata.phase === 'expand' && s.metadata.few_shot_seeds === true),
    ).toBe(true);
    // Every SGLang prompt carries a seed sample as an example.
    const seedQuestion = seeds[0]?.question ?? '';
    for (const call of run.backend('sglang').calls)
      expect(call.request.messages[0]?.content).toContain(JSON.stringify(seedQuestion).slice(1, -1));
    expect(run.report.evaluation).toMatchObject({ judged: 2 });
    expect(run.store.files.get('evaluation.jsonl')).toHaveLength(2);
    expect(run.report.strategy).toMatchObject({ name: 'iterative', seed_profiles: 1 });
  });

  it('iterative with seed data: an earlier run supplies the seeds and Bedrock writes none', async () => {
    const earlier = await runInProcess({ spec: { strategy: 'bedrock' } });
    const run = await runInProcess({
      spec: { strategy: 'iterative', seedData: 'earlier/samples.jsonl', evaluateSamples: 1 },
      seedData: earlier.store.samples,
    });
    expect(kinds(run.store.samples)).toEqual(new Set(['sglang']));
    expect(run.backend('bedrock').count('raiden_sbk_sample') + run.backend('bedrock').count('raiden_cm_sample')).toBe(0);
    expect(run.report.strategy).toMatchObject({ seed_profiles: 0, seed_data: 'earlier/samples.jsonl' });
  });

  it('quality gates apply under every strategy: a sample the agreement models cannot answer is not kept', async () => {
    const run = await runInProcess({
      spec: { strategy: 'sglang', keywordAgreementModels: ['bedrock:us.anthropic.claude-haiku-4-5-20251001-v1:0'], maxAttempts: 1 },
      script: { bedrock: { answer: () => 'I do not remember.' } },
    });
    expect(run.store.samples).toHaveLength(0);
    expect(new Set(run.store.rejects.map((reject) => reject.reason))).toEqual(new Set(['gate_keyword_agreement']));
    expect(run.report.strategy.gates).toEqual(['keyword_agreement']);
    expect(run.report.status).toBe('incomplete');
  });

  it('a backend that becomes unusable stops the run with its reason, keeping what was accepted', async () => {
    const run = await runInProcess({
      spec: { strategy: 'sglang' },
      script: { sglang: { flaw: (n) => (n > 2 ? 'unavailable' : undefined) } },
    });
    expect(run.report.status).toBe('stopped');
    expect(run.report).toMatchObject({ stopped_reason: 'sglang is unreachable' });
    expect(run.store.samples.length).toBeGreaterThan(0);
    expect(run.store.samples.length).toBeLessThan(run.prepared.plan.slots.total);
  });

  it('a rerun on the same store resumes: nothing is generated twice', async () => {
    const first = await runInProcess({ spec: { strategy: 'sglang' } });
    const again = await runInProcess({ spec: { strategy: 'sglang' }, store: first.store });
    expect(again.backends.get('sglang:qwen-sim')?.calls).toHaveLength(0);
    expect(again.report.samples).toMatchObject({
      accepted: first.report.samples.accepted,
      accepted_this_invocation: 0,
      already_done_before: first.report.samples.accepted,
    });
  });

  it('the injected clock fixes every time in the report', async () => {
    const one = await runInProcess({ spec: { strategy: 'sglang' } });
    const two = await runInProcess({ spec: { strategy: 'sglang' } });
    expect(one.report.started_at).toBe('2026-01-01T00:00:00.000Z');
    expect(one.report.wall_time_s).toBe(two.report.wall_time_s);
    expect(one.store.samples.map((s) => s.metadata.generated_at)).toEqual(two.store.samples.map((s) => s.metadata.generated_at));
  });
});

describe('cost and estimate', () => {
  it('agree when the model spends exactly the tokens the estimate assumes (bedrock, one call per slot)', async () => {
    const { EXPECTED_OUTPUT_TOKENS } = await import('../../orchestrator/src/core/report/cost-estimate.ts');
    const { estimateTokens } = await import('../../orchestrator/src/core/verify/text-normalize.ts');
    const run = await runInProcess({
      spec: { strategy: 'bedrock', includeCm: true },
      script: {
        bedrock: {
          usage: (request) => ({
            inputTokens: request.messages.reduce((sum, message) => sum + estimateTokens(message.content), 0),
            outputTokens: EXPECTED_OUTPUT_TOKENS[request.schema.name === 'raiden_cm_sample' ? 'CM' : 'SBK'],
          }),
        },
      },
    });
    expect(run.report.requests.this_invocation).toBe(run.prepared.plan.slots.total);
    expect(run.report.tokens.this_invocation).toEqual({ input: run.report.estimate.inputTokens, output: run.report.estimate.outputTokens });
    expect(run.report.cost.total_usd).toBeCloseTo(run.report.estimate.total_usd, 4);
  });
});
