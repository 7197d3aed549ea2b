import { describe, expect, it } from 'vitest';
import { chooseValidationProfiles } from '../../../orchestrator/src/core/run/dataset-split.ts';
import { finalizeRun } from '../../../orchestrator/src/core/run/finalize-run.ts';
import type { RejectRecord, Sample, SampleKind } from '../../../orchestrator/src/core/verify/sample.ts';
import { MemoryRunStore } from '../../support/memory-run-store.ts';

const PROFILES = ['Ann', 'Bo', 'Cy', 'Dee', 'Eve', 'Fay', 'Gus', 'Hal', 'Ivy', 'Jo'];
const OPTIONS = { profileIds: PROFILES, validationRatio: 0.2, seed: 7 };

function sample(profileId: string, kind: SampleKind, index: number, backend = 'sglang', model = 'qwen'): Sample {
  return {
    id: `${profileId}/${kind}/${index}`,
    character_name: profileId,
    character_profile: { name: profileId, bio: 'a baker in Tallinn' },
    conversation_history:
      kind === 'CM'
        ? [
            { role: 'user', content: 'My dog is "Biscuit",\nremember?' },
            { role: 'assistant', content: 'I will.' },
          ]
        : [],
    question: `Where do you bake, ${profileId}?`,
    // Text that would break a naive writer: a quote, a newline, a comma and bracket at the end, U+2028.
    reasoning: 'I say "Tallinn".\nThen],',
    answer: 'In Tallinn \u2028 of course.',
    keywords: ['Tallinn'],
    keyword_alternatives: [[]],
    question_type: 'where',
    validation_method: 'single_term_validation',
    difficulty: 'easy',
    metadata: {
      kind,
      backend,
      model,
      language: 'en',
      strategy: 'sglang',
      generated_at: '2025-01-01T00:00:00Z',
      usage: { input_tokens: 100 + index, output_tokens: 10 },
      attempt: 1,
      focus: 'field:bio|where',
    },
  };
}

function reject(slotId: string, reason: string, backend: string, model: string, input = 50, output = 5): RejectRecord {
  return {
    slot_id: slotId,
    attempt: 1,
    reason,
    detail: 'd',
    raw_output: '{}',
    backend,
    model,
    usage: { input_tokens: input, output_tokens: output },
    rejected_at: '2025-01-01T00:00:00Z',
  };
}

const profileOf = (sample: Sample) => sample.id.slice(0, sample.id.indexOf('/'));

/** A JSON file the store holds as lines, read back as a reader of the file would. */
function readArray(store: MemoryRunStore, name: string): Sample[] {
  const lines = store.files.get(name) as string[];
  const parsed: unknown = JSON.parse(lines.join('\n'));
  expect(Array.isArray(parsed)).toBe(true);
  return parsed as Sample[];
}

describe('finalizeRun', () => {
  it('writes empty JSON arrays and zero counts for an empty run', async () => {
    const store = new MemoryRunStore();
    const summary = await finalizeRun(store, OPTIONS);
    expect(readArray(store, 'train.json')).toEqual([]);
    expect(readArray(store, 'validation.json')).toEqual([]);
    expect(summary).toMatchObject({
      samples: 0,
      train: 0,
      validation: 0,
      validationProfiles: 2,
      rejects: 0,
      rejectsByReason: {},
      usageByModel: {},
    });
    expect(store.files.get('dataset_stats.json')).toEqual(summary.stats);
    expect(summary.stats.samples).toBe(0);
  });

  describe('a run with samples', () => {
    async function finished() {
      const store = new MemoryRunStore();
      const accepted: Sample[] = [];
      // Accepted in an order that interleaves profiles, as concurrent batches would.
      for (let index = 0; index < 2; index++) {
        for (const profileId of PROFILES) accepted.push(sample(profileId, 'SBK', index));
      }
      for (const profileId of PROFILES) accepted.push(sample(profileId, 'CM', 0, 'bedrock', 'claude'));
      for (const item of accepted) await store.appendSample(item);
      // A profile this run does not plan (e.g. left over from a run with more profiles).
      await store.appendSample(sample('Zed', 'SBK', 0));
      await store.appendReject(reject('Ann/SBK/2', 'keyword_not_in_answer', 'sglang', 'qwen', 70, 7));
      await store.appendReject(reject('Bo/SBK/2', 'keyword_not_in_answer', 'sglang', 'qwen', 30, 3));
      await store.appendReject(reject('Cy/CM/1', 'invalid_json', 'bedrock', 'claude', 400, 40));
      await store.appendReject(reject('Dee/CM/1', 'transport_failed', 'sglang', ''));
      const summary = await finalizeRun(store, OPTIONS);
      return { store, accepted, summary };
    }

    it('writes train.json and validation.json as JSON arrays that JSON.parse reads back, one sample per line', async () => {
      const { store, accepted } = await finished();
      const train = readArray(store, 'train.json');
      const validation = readArray(store, 'validation.json');
      expect([...train, ...validation].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(
        [...accepted].sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
      const lines = store.files.get('train.json') as string[];
      expect(lines[0]).toBe('[');
      expect(lines.at(-1)).toBe(']');
      expect(lines).toHaveLength(train.length + 2);
      expect(lines.slice(1, -2).every((line) => line.endsWith('},'))).toBe(true);
      expect(JSON.parse(lines.at(-2)!)).toEqual(train.at(-1));
    });

    it('splits by profile, never by sample: each profile lies wholly on one side', async () => {
      const { store, accepted, summary } = await finished();
      const train = readArray(store, 'train.json');
      const validation = readArray(store, 'validation.json');
      const trainProfiles = new Set(train.map(profileOf));
      const validationProfiles = new Set(validation.map(profileOf));
      expect([...trainProfiles].filter((id) => validationProfiles.has(id))).toEqual([]);
      expect(validationProfiles).toEqual(chooseValidationProfiles(PROFILES, 0.2, 7));
      expect(validationProfiles.size).toBe(2);
      expect(trainProfiles.size).toBe(8);
      for (const id of validationProfiles) expect(validation.filter((item) => profileOf(item) === id)).toHaveLength(3);
      // In acceptance order on both sides.
      expect(train.map((item) => item.id)).toEqual(accepted.filter((item) => trainProfiles.has(profileOf(item))).map((item) => item.id));
      expect(validation.map((item) => item.id)).toEqual(
        accepted.filter((item) => validationProfiles.has(profileOf(item))).map((item) => item.id),
      );
      expect(summary).toMatchObject({ samples: 30, train: 24, validation: 6, validationProfiles: 2 });
    });

    it('keeps only samples of planned profiles', async () => {
      const { store, summary } = await finished();
      const all = [...readArray(store, 'train.json'), ...readArray(store, 'validation.json')];
      expect(all.some((item) => profileOf(item) === 'Zed')).toBe(false);
      expect(summary.stats.profiles).toBe(10);
    });

    it('writes dataset_stats.json with the split counts', async () => {
      const { store, summary } = await finished();
      expect(store.files.get('dataset_stats.json')).toEqual(summary.stats);
      expect(summary.stats).toMatchObject({
        samples: 30,
        by_kind: { CM: 10, SBK: 20 },
        splits: { train: { samples: 24, profiles: 8 }, validation: { samples: 6, profiles: 2 } },
      });
    });

    it('counts rejects by reason', async () => {
      const { summary } = await finished();
      expect(summary.rejects).toBe(4);
      expect(summary.rejectsByReason).toEqual({ keyword_not_in_answer: 2, invalid_json: 1, transport_failed: 1 });
    });

    it('sums usage per backend:model over accepted and rejected responses, skipping rejects without a model', async () => {
      const { summary } = await finished();
      expect(summary.usageByModel).toEqual({
        // 10 profiles x SBK 0 and 1: input 100 + index each.
        'sglang:qwen': { samples: 20, rejects: 2, input_tokens: 10 * (100 + 101) + 70 + 30, output_tokens: 20 * 10 + 7 + 3 },
        'bedrock:claude': { samples: 10, rejects: 1, input_tokens: 10 * 100 + 400, output_tokens: 10 * 10 + 40 },
      });
    });
  });

  it('holds no split in memory: each validation sample is written as the next is read', async () => {
    // A store that logs, in order, every sample read and every line a split file takes.
    const log: string[] = [];
    const store = new (class extends MemoryRunStore {
      override async *readSamples() {
        for await (const item of super.readSamples()) {
          log.push(`read ${item.id}`);
          yield item;
        }
      }
      override async writeLines(name: string, lines: Iterable<string> | AsyncIterable<string>) {
        const all: string[] = [];
        for await (const line of lines) {
          log.push(`line ${name}`);
          all.push(line);
        }
        this.files.set(name, all);
      }
    })();
    for (let index = 0; index < 20; index++) for (const id of PROFILES) await store.appendSample(sample(id, 'SBK', index));
    const validationProfiles = chooseValidationProfiles(PROFILES, OPTIONS.validationRatio, OPTIONS.seed);
    await finalizeRun(store, OPTIONS);
    expect(readArray(store, 'validation.json')).toHaveLength(40);
    const isValidation = (entry: string) => entry.startsWith('read ') && validationProfiles.has(entry.slice(5).split('/')[0] as string);
    // Once validation.json is being written, each validation sample read goes out once the next one is read
    // (a line's comma waits for the next sample): never more than two are held.
    const start = log.indexOf('line validation.json');
    let pending = 0;
    let mostPending = 0;
    for (const entry of log.slice(start)) {
      if (isValidation(entry)) pending++;
      if (entry === 'line validation.json' && pending > 0) pending--;
      mostPending = Math.max(mostPending, pending);
    }
    expect(mostPending).toBeLessThanOrEqual(2);
    // validation.json is open before the run's last validation sample is read, not written from a held list.
    expect(start).toBeLessThan(log.findLastIndex(isValidation));
  });

  it('puts everything in train.json with a validation ratio of 0', async () => {
    const store = new MemoryRunStore();
    for (const id of PROFILES) await store.appendSample(sample(id, 'SBK', 0));
    const summary = await finalizeRun(store, { ...OPTIONS, validationRatio: 0 });
    expect(readArray(store, 'train.json')).toHaveLength(10);
    expect(readArray(store, 'validation.json')).toEqual([]);
    expect(summary).toMatchObject({ train: 10, validation: 0, validationProfiles: 0 });
  });

  it('writes a single sample as a one-element array', async () => {
    const store = new MemoryRunStore();
    await store.appendSample(sample('Ann', 'SBK', 0));
    await finalizeRun(store, { profileIds: ['Ann'], validationRatio: 0.1, seed: 1 });
    expect(store.files.get('train.json')).toEqual(['[', JSON.stringify(sample('Ann', 'SBK', 0)), ']']);
    expect(readArray(store, 'validation.json')).toEqual([]);
  });

  // Bug: samples of a profile the run does not plan are left out of `samples` and `usageByModel`, but that
  // profile's rejects are still counted in `rejects`, `rejectsByReason` and `usageByModel` (whose doc says it
  // covers every response the run directory has seen). The two must be treated alike.
  it('treats the samples and the rejects of an unplanned profile alike', async () => {
    const store = new MemoryRunStore();
    await store.appendSample(sample('Zed', 'SBK', 0));
    await store.appendReject(reject('Zed/SBK/1', 'invalid_json', 'sglang', 'qwen'));
    const summary = await finalizeRun(store, OPTIONS);
    expect(summary.samples === 0).toBe(summary.rejects === 0);
    const row = summary.usageByModel['sglang:qwen'];
    expect((row?.samples ?? 0) === 0).toBe((row?.rejects ?? 0) === 0);
  });
});
