import { readFileSync } from 'node:fs';
import { DEFAULT_COST_ASSUMPTIONS, estimateRun, EXPECTED_OUTPUT_TOKENS } from '../../orchestrator/src/core/report/cost-estimate.ts';
import { planSlots } from '../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../orchestrator/src/core/profiles/profile-loader.ts';
import { buildMessages } from '../../orchestrator/src/core/prompts/prompts.ts';
import type { RunReport } from '../../orchestrator/src/core/report/run-report.ts';
import { estimateTokens } from '../../orchestrator/src/core/verify/text-normalize.ts';
import { fmt, type ScenarioResult } from '../support/scenario.ts';
import type { SaturationRun } from './saturation.ts';

const CHARACTEREVAL = new URL('../../test/fixtures/charactereval_profiles.json', import.meta.url);

/** RAIDEN-R1 paper's reference costs per 1,000 samples (SGLang at the pre-cut 98 USD/h p5en price). */
const REFERENCE = { bedrock: 27.5, sglang: 24.5, sglangUsdPerHour: 98 };

/**
 * Cost per sample from a measured fault-free run (requests per accepted sample) and the real prompts of
 * the same profiles (input tokens), with the stated output-token assumption and prices.
 */
export function costPerSampleScenario(run: SaturationRun): ScenarioResult {
  const report = JSON.parse(readFileSync(run.report, 'utf8')) as RunReport;
  const requestsPerSample = report.requests.this_invocation / report.samples.accepted_this_invocation;
  // Token counts come from real RAIDEN-style profiles (CharacterEval, Chinese), not the synthetic ones.
  const { profiles } = parseProfiles(readFileSync(CHARACTEREVAL), 'charactereval_profiles.json');
  const byId = new Map(profiles.map((p) => [p.id, p]));
  const slots = planSlots(profiles, { samplesPerProfile: 2, cmPerProfile: 1, language: 'auto', seed: 42 });
  const prompts = slots.map((slot) => ({
    kind: slot.kind,
    inputTokens: buildMessages(byId.get(slot.profileId)!, slot).reduce((sum, m) => sum + estimateTokens(m.content), 0),
    backend: 'sglang' as const,
  }));
  const estimate = estimateRun(prompts, DEFAULT_COST_ASSUMPTIONS);
  const inputPerSample = (estimate.inputTokens / slots.length) * requestsPerSample;
  const outputPerSample = (estimate.outputTokens / slots.length) * requestsPerSample;
  const c = DEFAULT_COST_ASSUMPTIONS;
  const bedrockPer1k = (1000 * (inputPerSample * c.bedrockInputUsdPerMTok + outputPerSample * c.bedrockOutputUsdPerMTok)) / 1e6;
  const samplesPerHour = (c.sglangTokensPerSecond * 3600) / outputPerSample;
  const sglangPer1k = (1000 * c.gpuUsdPerHour) / samplesPerHour;
  // The existing Python tool makes three calls per sample (question, reasoning, answer), each resending instructions and profile.
  const threeCallBedrockPer1k =
    (1000 * (3 * inputPerSample * c.bedrockInputUsdPerMTok + outputPerSample * c.bedrockOutputUsdPerMTok)) / 1e6;
  return {
    name: 'Cost per sample',
    settings: `from the 64-slot Saturation run (${report.samples.accepted_this_invocation} samples, no injected faults) for requests per sample; input tokens counted from the prompts of the 78 CharacterEval profiles at ~1 token per CJK character and per 4 other characters; output tokens assumed ${EXPECTED_OUTPUT_TOKENS.SBK} per SBK and ${EXPECTED_OUTPUT_TOKENS.CM} per CM sample; Bedrock Claude Sonnet at $${c.bedrockInputUsdPerMTok}/$${c.bedrockOutputUsdPerMTok} per million input/output tokens without prompt caching; p5en.48xlarge at $${c.gpuUsdPerHour}/h and an assumed ${c.sglangTokensPerSecond.toLocaleString('en-US')} output tokens/s`,
    figures: [
      { label: 'requests per accepted sample', value: fmt(requestsPerSample, 3), target: '<= 1.05', met: requestsPerSample <= 1.05 },
      { label: 'input tokens per accepted sample', value: fmt(inputPerSample, 0) },
      { label: 'output tokens per accepted sample (assumed)', value: fmt(outputPerSample, 0) },
      { label: 'Bedrock USD per 1,000 samples (RAIDEN-R1 reference ~27.5)', value: fmt(bedrockPer1k) },
      {
        label: `p5en USD per 1,000 samples at ${Math.round(samplesPerHour).toLocaleString('en-US')} samples/h (reference ~${REFERENCE.sglang} at $${REFERENCE.sglangUsdPerHour}/h)`,
        value: fmt(sglangPer1k),
      },
      {
        label: `p5en USD per 1,000 samples at the pre-cut $${REFERENCE.sglangUsdPerHour}/h`,
        value: fmt((sglangPer1k * REFERENCE.sglangUsdPerHour) / c.gpuUsdPerHour),
      },
      { label: 'Bedrock USD per 1,000 samples with three calls per sample (existing Python tool)', value: fmt(threeCallBedrockPer1k) },
    ],
  };
}
