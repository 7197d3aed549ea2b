/**
 * Rejected attempts keep their whole output in the run, with or without the response cache (which may be
 * deleted, or fail to store it); reverify judges the whole output, from the cache for runs of an older
 * raiden that cut it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeSample } from '../../bench/simulated-sglang/role-model.ts';
import { runGeneration } from '../../orchestrator/src/core/run/generation-run.ts';
import type { GenerateRequest, LlmBackend } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { buildMessages } from '../../orchestrator/src/core/prompts/prompts.ts';
import { CachedBackend, newCacheStats } from '../../orchestrator/src/core/run/response-cache.ts';
import { reverifyRun } from '../../orchestrator/src/core/run/reverify.ts';
import { parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import type { RejectRecord } from '../../orchestrator/src/core/verify/sample.ts';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';
import { MemoryRunStore } from '../support/memory-run-store.ts';
import { ROOT } from '../support/run-cli.ts';

const PROFILES = join(ROOT, 'examples/profiles.en.jsonl');
const prepared = prepareRun(
  parseRunSpec({ profiles: PROFILES, samplesPerProfile: 1 }),
  { bytes: readFileSync(PROFILES), location: PROFILES },
  { startedAt: new Date() },
);
const slot = prepared.slots[0]!;
/** What an older raiden kept of a long reject's output when the cache held it whole. */
const OLD_RAW_OUTPUT_LIMIT = 2_000;
const profile = prepared.profiles.get(slot.profileId)!;
/** A sample that passes the rules, padded past the reject limit with a field the parser drops. */
const longGood = JSON.stringify({
  ...JSON.parse(fakeSample({ messages: buildMessages(profile, slot) })),
  notes: 'n'.repeat(3 * OLD_RAW_OUTPUT_LIMIT),
});
/** The same with its answer emptied: a long output the rules refuse. */
const longBad = JSON.stringify({ ...JSON.parse(longGood), answer: '' });

const answering = (text: string): LlmBackend => ({
  name: 'sglang',
  inFlight: () => 0,
  models: () => ['qwen'],
  generate: async (_request: GenerateRequest) => ({ text, model: 'qwen', usage: { inputTokens: 10, outputTokens: 900 }, requests: 1 }),
});

async function rejectOf(backend: LlmBackend): Promise<RejectRecord> {
  const store = new MemoryRunStore();
  await runGeneration({
    profiles: prepared.profiles,
    slots: [slot],
    backend,
    store,
    existing: [],
    concurrency: 1,
    maxAttempts: 1,
    strategy: 'sglang',
  });
  expect(store.rejects).toHaveLength(1);
  return store.rejects[0]!;
}

describe('a rejected attempt', () => {
  it('with the cache: rejects.jsonl holds the whole output too, so the run does not depend on the cache', async () => {
    const cache = await LocalResponseCache.open(mkdtempSync(join(tmpdir(), 'raiden-whole-')));
    const reject = await rejectOf(new CachedBackend(answering(longBad), cache, newCacheStats()));
    expect(reject.reason).toBe('empty_field');
    expect(reject.raw_output).toBe(longBad);
    expect(reject.output_key).toBeUndefined();
  });

  it('with a cache that fails to store it: the whole output in the run, the failure counted', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'raiden-whole-'));
    const cache = await LocalResponseCache.open(directory);
    // Where segments go is no directory any more: every put fails, as on a full disk.
    rmSync(join(directory, 'responses-v2', 'segments'), { recursive: true });
    writeFileSync(join(directory, 'responses-v2', 'segments'), '');
    const stats = newCacheStats();
    const reject = await rejectOf(new CachedBackend(answering(longBad), cache, stats));
    expect(reject.raw_output).toBe(longBad);
    expect(stats.errors).toBe(1);
  });

  it('without a cache: rejects.jsonl holds the whole output', async () => {
    const reject = await rejectOf(answering(longBad));
    expect(reject.raw_output).toBe(longBad);
    expect(reject.output_key).toBeUndefined();
  });
});

describe('reverify of cut outputs', () => {
  it('judges the whole output from the cache, and keeps a reject whose entry is gone as it was', async () => {
    const cache = await LocalResponseCache.open(mkdtempSync(join(tmpdir(), 'raiden-whole-')));
    const key = 'ef'.repeat(32);
    await cache.put(key, { text: longGood, model: 'qwen', usage: { inputTokens: 10, outputTokens: 900 } });
    // Refused by rules since changed: the output passes today's.
    const cut = (output_key: string): RejectRecord => ({
      slot_id: slot.id,
      attempt: 1,
      reason: 'keyword_generic',
      detail: 'an older rule',
      raw_output: `${longGood.slice(0, OLD_RAW_OUTPUT_LIMIT)}…[truncated ${longGood.length - OLD_RAW_OUTPUT_LIMIT} chars]`,
      output_key,
      backend: 'sglang',
      model: 'qwen',
      usage: { input_tokens: 10, output_tokens: 900 },
      rejected_at: '2026-01-01T00:00:00.000Z',
    });
    const gone = { ...cut('00'.repeat(32)), attempt: 2 };
    const current = new MemoryRunStore();
    current.rejects.push(gone, cut(key));
    const staged = new MemoryRunStore();
    const outcome = await reverifyRun({ prepared, current, staged, outputs: cache, now: () => new Date('2026-02-01T00:00:00Z') });
    expect(outcome.summary.rejects).toMatchObject({ checked: 2, revived: 1, unverifiable: 1 });
    expect(staged.samples.map((sample) => [sample.id, sample.metadata.attempt, sample.metadata.revived_by_reverify])).toEqual([
      [slot.id, 1, true],
    ]);
    expect(staged.rejects).toEqual([gone]);
    expect(outcome.emptySlots.map((empty) => empty.slot_id)).not.toContain(slot.id);
  });
});

describe('reverify of outputs a review refused', () => {
  it('keeps a judge’s refusal while the rules pass the output, and gives the rules’ reason once they do not', async () => {
    const judged = (reason: string, raw: string): RejectRecord => ({
      slot_id: slot.id,
      attempt: 1,
      reason,
      detail: 'score 5 < 7',
      raw_output: raw,
      backend: 'sglang',
      model: 'qwen',
      usage: { input_tokens: 10, output_tokens: 900 },
      rejected_at: '2026-01-01T00:00:00.000Z',
      review: { judge: { score: 5 } },
    });
    const current = new MemoryRunStore();
    current.rejects.push(judged('judge_below_min_score', longGood), judged('judge_not_best', longBad));
    const staged = new MemoryRunStore();
    const outcome = await reverifyRun({ prepared, current, staged, now: () => new Date('2026-02-01T00:00:00Z') });
    expect(staged.samples).toEqual([]);
    expect(staged.rejects.map((reject) => [reject.reason, reject.review])).toEqual([
      ['judge_below_min_score', { judge: { score: 5 } }],
      ['empty_field', { judge: { score: 5 } }],
    ]);
    expect(outcome.summary.rejects).toMatchObject({ checked: 2, revived: 0, reason_changed: 1 });
  });
});
