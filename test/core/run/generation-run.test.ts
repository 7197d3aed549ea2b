import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runGeneration, type ExistingSample } from '../../../orchestrator/src/core/run/generation-run.ts';
import { planSlots, type Slot } from '../../../orchestrator/src/core/profiles/plan.ts';
import { parseProfiles } from '../../../orchestrator/src/core/profiles/profile-loader.ts';
import { SglangBackend } from '../../../orchestrator/src/llm/sglang-backend.ts';
import { LocalRunStore } from '../../../orchestrator/src/store/local-run-store.ts';
import { faultSequence, startTestServer, type TestServer, type TestServerOptions } from '../../../bench/simulated-sglang/server.ts';
import { collect } from '../../support/collect.ts';
import { CHARACTEREVAL_PROFILES } from '../../support/run-cli.ts';

const { profiles } = parseProfiles(readFileSync(CHARACTEREVAL_PROFILES), 'c.json');
const byId = new Map(profiles.map((p) => [p.id, p]));
let server: TestServer | undefined;
afterEach(async () => server?.close());

async function generate(
  serverOptions: TestServerOptions,
  settings: {
    profiles: number;
    sbk: number;
    cm: number;
    maxAttempts?: number;
    concurrency?: number;
    order?: (slots: Slot[]) => Slot[];
    existing?: (slots: Slot[]) => ExistingSample[];
  },
) {
  server = await startTestServer(serverOptions);
  const backend = await SglangBackend.connect({ endpoints: [server.url], retry: { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20 } });
  const dir = mkdtempSync(join(tmpdir(), 'raiden-run-'));
  const store = await LocalRunStore.open(dir);
  const planned = planSlots(profiles, {
    samplesPerProfile: settings.sbk,
    cmPerProfile: settings.cm,
    maxProfiles: settings.profiles,
    language: 'auto',
    seed: 1,
  });
  const slots = settings.order?.(planned) ?? planned;
  const outcome = await runGeneration({
    profiles: byId,
    slots,
    backend,
    store,
    existing: settings.existing?.(slots) ?? [],
    concurrency: settings.concurrency ?? 8,
    maxAttempts: settings.maxAttempts ?? 3,
    strategy: 'sglang',
  });
  return { outcome, store, slots, samples: await collect(store.readSamples()), rejects: await collect(store.readRejects()) };
}

describe('generation run', () => {
  it('fills every slot with a verified sample on a healthy server', async () => {
    const { outcome, samples, slots } = await generate({}, { profiles: 10, sbk: 2, cm: 1 });
    expect(outcome.emptySlots).toEqual([]);
    expect(samples.map((s) => s.id).sort()).toEqual(slots.map((s) => s.id).sort());
    expect(outcome.counters.requests).toBe(30);
    const cm = samples.find((s) => s.metadata.kind === 'CM');
    expect(cm?.conversation_history.length).toBeGreaterThanOrEqual(2);
    expect(samples.every((s) => s.keywords.every((k) => s.answer.includes(k)))).toBe(true);
    expect(samples[0]?.metadata).toMatchObject({ backend: 'sglang', model: 'test-model', strategy: 'sglang', attempt: 1 });
  });

  it('records each rejected attempt with slot, reason and truncated raw output, then retries the slot', async () => {
    const flaws = ['ungrounded', 'keyword_not_in_answer', 'malformed_content', 'think'] as const;
    const { outcome, rejects, samples } = await generate(
      { fault: faultSequence(flaws) },
      { profiles: 1, sbk: 1, cm: 0, concurrency: 1, maxAttempts: 5 },
    );
    expect(rejects.map((r) => r.reason)).toEqual(['keyword_not_in_profile', 'keyword_not_in_answer', 'invalid_json']);
    expect(rejects.every((r) => r.slot_id === '老默/SBK/0' && r.raw_output.length > 0)).toBe(true);
    // The fourth answer wraps valid JSON in <think>: it is accepted on attempt 4.
    expect(samples[0]?.metadata.attempt).toBe(4);
    expect(outcome.counters.rejectsByReason).toEqual({ keyword_not_in_profile: 1, keyword_not_in_answer: 1, invalid_json: 1 });
  });

  it('rejects duplicate questions within a profile', async () => {
    // Request 1 is accepted; requests 2 and 3 (slot 1) ask the same question again and are rejected.
    const { rejects, outcome } = await generate(
      { fault: (n) => (n <= 3 ? 'duplicate' : undefined) },
      { profiles: 1, sbk: 3, cm: 0, concurrency: 1 },
    );
    expect(rejects.map((r) => [r.slot_id, r.reason])).toEqual([
      ['老默/SBK/1', 'duplicate_question'],
      ['老默/SBK/1', 'duplicate_question'],
    ]);
    expect(outcome.emptySlots).toEqual([]);
  });

  it('rejects a duplicate question of a profile whose slots are apart in the list (the question sets outlive other profiles)', async () => {
    // Slots A/0, B/0, A/1: requests 1 (A/0) and 3 (A/1) ask the same question, B's in between is another profile's.
    const { rejects, outcome, slots } = await generate(
      { fault: (n) => (n === 1 || n === 3 ? 'duplicate' : undefined) },
      { profiles: 2, sbk: 2, cm: 0, concurrency: 1, order: ([a0, a1, b0, b1]) => [a0, b0, a1, b1] as Slot[] },
    );
    expect(rejects.map((r) => [r.slot_id, r.reason])).toEqual([[slots[2]?.id, 'duplicate_question']]);
    expect(slots[2]?.profileId).toBe(slots[0]?.profileId);
    expect(outcome.emptySlots).toEqual([]);
  });

  it("counts a resumed run's accepted questions as taken, and skips their slots", async () => {
    // The first slot of each of two profiles is done, with the question the duplicate flaw asks: the first
    // request (the first profile's second slot) asks it again.
    const { rejects, outcome, slots } = await generate(
      { fault: (n) => (n === 1 ? 'duplicate' : undefined) },
      {
        profiles: 2,
        sbk: 2,
        cm: 0,
        concurrency: 1,
        existing: ([a0, , b0]) => [a0, b0].map((slot) => ({ id: slot?.id ?? '', question: '你能说说自己吗？' })),
      },
    );
    expect(rejects.map((r) => [r.slot_id, r.reason])).toEqual([[slots[1]?.id, 'duplicate_question']]);
    expect(outcome.newSamples).toBe(2);
    expect(outcome.counters.alreadyDone).toBe(2);
  });

  it('leaves a slot empty after max attempts and names it', async () => {
    const { outcome, rejects } = await generate(
      {
        fault: (_n, body) =>
          JSON.stringify(body).includes('SBK sample') || JSON.stringify(body).includes('SBK 样本') ? 'ungrounded' : undefined,
      },
      { profiles: 1, sbk: 1, cm: 1, maxAttempts: 2 },
    );
    expect(outcome.emptySlots).toEqual([{ slot_id: '老默/SBK/0', attempts: 2, last_reason: 'keyword_not_in_profile' }]);
    expect(rejects).toHaveLength(2);
    expect(outcome.counters.accepted).toBe(1);
  });

  it('counts transport failures apart from attempts', async () => {
    const { outcome, samples } = await generate(
      { fault: faultSequence(['server_error', 'reset', 'rate_limit_no_header']) },
      { profiles: 1, sbk: 1, cm: 0, concurrency: 1 },
    );
    expect(samples[0]?.metadata.attempt).toBe(1);
    expect(outcome.counters.transportFailures).toBe(3);
    expect(outcome.counters.requests).toBe(4);
  });

  it('never holds more than --concurrency requests in flight', async () => {
    await generate({ latencyMs: 20 }, { profiles: 20, sbk: 2, cm: 0, concurrency: 5 });
    // The ceiling holds; how close a loaded machine gets to it is not this test's business.
    expect(server?.stats.maxConcurrent).toBeLessThanOrEqual(5);
    expect(server?.stats.maxConcurrent).toBeGreaterThan(1);
  });
});
