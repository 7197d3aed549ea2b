import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BATCH_REQUESTS_IN_FLIGHT,
  BATCH_TIME_BUDGET_SECONDS,
  mapConcurrency,
  planBatches,
  slotSeconds,
} from '../../../orchestrator/src/core/run/batch-plan.ts';
import { planSlots } from '../../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../../orchestrator/src/core/profiles/profile-loader.ts';
import {
  parseWorkflowSpec as parseWorkflowInput,
  RunSpecError as WorkflowInputError,
} from '../../../orchestrator/src/core/run/run-spec.ts';
import { CHARACTEREVAL_PROFILES } from '../../support/run-cli.ts';

const { profiles } = parseProfiles(readFileSync(CHARACTEREVAL_PROFILES), 'c.json');
const sglang = () => 'sglang' as const;

describe('batch planning for the workflow', () => {
  it('keeps each profile whole in one batch and every slot in exactly one batch', () => {
    const slots = planSlots(profiles, { samplesPerProfile: 5, cmPerProfile: 2, language: 'auto', seed: 1 });
    const batches = planBatches(slots, { backendOf: sglang });
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flatMap((b) => b.slots.map((s) => s.id))).toEqual(slots.map((s) => s.id));
    const owner = new Map<string, string>();
    for (const batch of batches) {
      for (const slot of batch.slots) {
        expect(owner.get(slot.profileId) ?? batch.id).toBe(batch.id);
        owner.set(slot.profileId, batch.id);
      }
      expect(new Set(batch.slots.map((s) => s.profileId))).toEqual(new Set(batch.profileIds));
    }
    expect(batches.map((b) => b.id).slice(0, 3)).toEqual(['b00000', 'b00001', 'b00002']);
  });

  it('sizes batches to a third of the Lambda limit at the planned requests in flight', () => {
    const slots = planSlots(profiles, { samplesPerProfile: 10, cmPerProfile: 3, language: 'auto', seed: 1 });
    for (const batch of planBatches(slots, { backendOf: sglang })) {
      const seconds = batch.slots.reduce((sum, slot) => sum + slotSeconds(slot.kind), 0) / BATCH_REQUESTS_IN_FLIGHT;
      expect(seconds).toBeLessThanOrEqual(BATCH_TIME_BUDGET_SECONDS);
      expect(BATCH_TIME_BUDGET_SECONDS).toBeLessThanOrEqual(900 / 3);
    }
  });

  it('cuts a profile too large for one batch in plan order, and honours a fixed batch size', () => {
    const one = planSlots(profiles.slice(0, 1), { samplesPerProfile: 30, cmPerProfile: 0, language: 'auto', seed: 1 });
    const batches = planBatches(one, { backendOf: sglang, maxSlots: 8 });
    expect(batches.map((b) => b.slots.length)).toEqual([8, 8, 8, 6]);
    expect(batches.flatMap((b) => b.slots.map((s) => s.index))).toEqual(one.map((s) => s.index));
  });

  it('never mixes backends in a batch (tiered) and derives the map concurrency from capacity', () => {
    const slots = planSlots(profiles.slice(0, 20), { samplesPerProfile: 2, cmPerProfile: 0, language: 'auto', seed: 1 });
    const gold = new Set(profiles.slice(0, 3).map((p) => p.id));
    const batches = planBatches(slots, { backendOf: (id) => (gold.has(id) ? 'bedrock' : 'sglang'), maxSlots: 6 });
    for (const batch of batches) expect(batch.profileIds.every((id) => gold.has(id) === (batch.backend === 'bedrock'))).toBe(true);
    expect(mapConcurrency(batches, { sglangRequests: 128, bedrockRequests: 32 })).toBe(Math.min(batches.length, 8 + 2));
    expect(
      mapConcurrency(
        batches.filter((b) => b.backend === 'sglang'),
        { sglangRequests: 1, bedrockRequests: 32 },
      ),
    ).toBe(1);
  });
});

describe('workflow input', () => {
  it('fills every default but profiles', () => {
    expect(parseWorkflowInput({ profiles: 's3://my-inputs/roles.jsonl' })).toMatchObject({
      samplesPerProfile: 2,
      includeCm: false,
      strategy: 'sglang',
      language: 'auto',
      teardown: 'always',
      seed: 42,
      maxAttempts: 3,
      instances: 1,
      readinessTimeoutMinutes: 45,
      candidates: 3,
      minScore: 7,
      seedProfiles: 0.1,
      evaluateSamples: 50,
    });
  });

  it('accepts every strategy of raiden generate, with the strategy settings', () => {
    for (const strategy of ['sglang', 'bedrock', 'tiered', 'filter', 'iterative'])
      expect(parseWorkflowInput({ profiles: 's3://b-1/x', strategy }).strategy).toBe(strategy);
    expect(
      parseWorkflowInput({
        profiles: 's3://b-1/x',
        strategy: 'iterative',
        seedProfiles: 20,
        judgeModel: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      }),
    ).toMatchObject({ seedProfiles: 20, judgeModel: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' });
  });

  it.each([
    [{}, /profiles \(missing\): is required/],
    [{ profiles: './roles.jsonl' }, /profiles "\.\/roles\.jsonl": expected an S3 URL/],
    [{ profiles: 's3://b-1/x', samplesPerProfile: -1 }, /samplesPerProfile -1/],
    [{ profiles: 's3://b-1/x', strategy: 'cascade' }, /strategy "cascade": .*sglang.*bedrock.*tiered.*filter.*iterative/],
    [{ profiles: 's3://b-1/x', candidates: 0 }, /candidates 0/],
    [{ profiles: 's3://b-1/x', minScore: 11 }, /minScore 11/],
    [{ profiles: 's3://b-1/x', seedProfiles: 0 }, /seedProfiles 0/],
    [{ profiles: 's3://b-1/x', seedProfiles: 2.5 }, /seedProfiles 2\.5: expected a number of profiles/],
    [{ profiles: 's3://b-1/x', evaluateSamples: -1 }, /evaluateSamples -1/],
    [{ profiles: 's3://b-1/x', teardown: 'never' }, /teardown "never"/],
    [{ profiles: 's3://b-1/x', samplesPerProfil: 3 }, /unknown field "samplesPerProfil": remove it or use one of profiles, /],
    [[1, 2], /must be a JSON object/],
  ])('rejects %j naming the field', (raw, message) => {
    expect(() => parseWorkflowInput(raw)).toThrow(WorkflowInputError);
    expect(() => parseWorkflowInput(raw)).toThrow(message);
  });
});
