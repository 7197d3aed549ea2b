import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { collect } from '../support/collect.ts';

const sample = (id: string) => ({ id, question: `q ${id}` }) as unknown as Sample;

describe('local run store', () => {
  it('drops a partially written last line and appends cleanly after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-store-'));
    writeFileSync(join(dir, 'samples.jsonl'), `${JSON.stringify(sample('a/SBK/0'))}\n{"id": "a/SBK/1", "questi`);
    const store = await LocalRunStore.open(dir);
    await store.prepareAppends();
    expect((await collect(store.readSamples())).map((s) => s.id)).toEqual(['a/SBK/0']);
    await store.appendSample(sample('a/SBK/1'));
    store.close();
    const lines = readFileSync(join(dir, 'samples.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line).id)).toEqual(['a/SBK/0', 'a/SBK/1']);
  });

  it('keeps a complete last record that only lacks its newline, and appends after it on a line of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-store-'));
    writeFileSync(join(dir, 'samples.jsonl'), `${JSON.stringify(sample('a/SBK/0'))}\n${JSON.stringify(sample('a/SBK/1'))}`);
    const store = await LocalRunStore.open(dir);
    await store.prepareAppends();
    expect((await collect(store.readSamples())).map((s) => s.id)).toEqual(['a/SBK/0', 'a/SBK/1']);
    await store.appendSample(sample('a/SBK/2'));
    store.close();
    const lines = readFileSync(join(dir, 'samples.jsonl'), 'utf8').split('\n');
    expect(lines.slice(0, -1).map((line) => JSON.parse(line).id)).toEqual(['a/SBK/0', 'a/SBK/1', 'a/SBK/2']);
    expect(lines.at(-1)).toBe('');
  });

  it('keeps the first record of a repeated id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-store-'));
    appendFileSync(
      join(dir, 'samples.jsonl'),
      [sample('a/SBK/0'), { ...sample('a/SBK/0'), question: 'later' }].map((s) => JSON.stringify(s)).join('\n') + '\n',
    );
    const store = await LocalRunStore.open(dir);
    const loaded = await collect(store.readSamples());
    expect(loaded).toHaveLength(1);
    expect(loaded[0]?.question).toBe('q a/SBK/0');
  });

  it('creates both JSONL files and cuts a tail with no newline at all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-store-'));
    writeFileSync(join(dir, 'rejects.jsonl'), '{"slot_id": "a/SBK/0", "rea');
    const store = await LocalRunStore.open(dir);
    await store.prepareAppends();
    store.close();
    expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toBe('');
    expect(readFileSync(join(dir, 'rejects.jsonl'), 'utf8')).toBe('');
  });

  it('replaces JSON files atomically and streams lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-store-'));
    const store = await LocalRunStore.open(dir);
    await store.writeJson('report.json', { a: 1 });
    await store.writeJson('report.json', { a: 2 });
    expect(await store.readJson('report.json')).toEqual({ a: 2 });
    expect(await store.readJson('missing.json')).toBeUndefined();
    await store.writeLines(
      'prompts.jsonl',
      (function* () {
        for (let i = 0; i < 3; i++) yield `{"i":${i}}`;
      })(),
    );
    expect(readFileSync(join(dir, 'prompts.jsonl'), 'utf8')).toBe('{"i":0}\n{"i":1}\n{"i":2}\n');
  });
});
