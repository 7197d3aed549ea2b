import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/sample.ts';
import { S3RunStore, parseS3Url } from '../../orchestrator/src/store/s3-run-store.ts';
import { collect } from '../support/collect.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';

const BUCKET = 'raiden-outputs-test';
const sample = (id: string, question = `q ${id}`) => ({ id, question }) as unknown as Sample;
const reject = (slot: string, attempt: number) =>
  ({ slot_id: slot, attempt, reason: 'invalid_json', detail: '', raw_output: '', backend: 'sglang', model: 'm', usage: { input_tokens: 1, output_tokens: 1 }, rejected_at: '' }) as RejectRecord;

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3([BUCKET]);
});
afterAll(async () => s3.close());

const store = (prefix: string, partition?: string) => new S3RunStore({ client: s3.client, bucket: BUCKET, prefix, ...(partition ? { partition } : {}) });

describe('S3 run store (s3rver through @aws-sdk/client-s3)', () => {
  it('writes each sample as its own object, keyed by id, so a rewrite never duplicates', async () => {
    const batch = store('runs/r1/', 'b00000');
    await batch.appendSample(sample('老默/SBK/0'));
    await batch.appendSample(sample('老默/SBK/1'));
    await batch.appendSample(sample('老默/SBK/0', 'rewritten by a retried batch'));
    const keys = (await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/r1/' }))).Contents?.map((o) => o.Key);
    expect(keys).toEqual([`runs/r1/parts/samples/b00000/${encodeURIComponent('老默')}/SBK/0.json`, `runs/r1/parts/samples/b00000/${encodeURIComponent('老默')}/SBK/1.json`]);
    expect((await collect(batch.readSamples())).map((s) => [s.id, s.question])).toEqual([
      ['老默/SBK/0', 'rewritten by a retried batch'],
      ['老默/SBK/1', 'q 老默/SBK/1'],
    ]);
  });

  it('a partition reads only its own samples; the whole run reads every partition', async () => {
    await store('runs/r2/', 'b00000').appendSample(sample('a/SBK/0'));
    await store('runs/r2/', 'b00001').appendSample(sample('b/SBK/0'));
    await store('runs/r2/', 'b00001').appendReject(reject('b/SBK/1', 1));
    await store('runs/r2/', 'b00001').appendReject(reject('b/SBK/1', 1));
    expect((await collect(store('runs/r2/', 'b00001').readSamples())).map((s) => s.id)).toEqual(['b/SBK/0']);
    expect((await collect(store('runs/r2/').readSamples())).map((s) => s.id)).toEqual(['a/SBK/0', 'b/SBK/0']);
    expect(await collect(store('runs/r2/').readRejects())).toHaveLength(2);
    expect(await store('runs/r2/').countObjects('parts/samples/')).toBe(2);
  });

  it('streams many samples back in key order with bounded look-ahead', async () => {
    const run = new S3RunStore({ client: s3.client, bucket: BUCKET, prefix: 'runs/r3/', partition: 'b00000', readConcurrency: 4 });
    const ids = Array.from({ length: 60 }, (_, i) => `p${String(i).padStart(3, '0')}/SBK/0`);
    await Promise.all(ids.map((id) => run.appendSample(sample(id))));
    expect((await collect(run.readSamples())).map((s) => s.id)).toEqual(ids);
  });

  it('replaces JSON documents whole and reads a missing one as undefined', async () => {
    const run = store('runs/r4/');
    await run.writeJson('report.json', { a: 1 });
    await run.writeJson('report.json', { a: 2 });
    expect(await run.readJson('report.json')).toEqual({ a: 2 });
    expect(await run.readJson('missing.json')).toBeUndefined();
  });

  it('writes small files with one PUT and large ones by multipart upload', async () => {
    const run = store('runs/r5/');
    await run.writeLines('small.jsonl', ['{"i":0}', '{"i":1}']);
    const big = Array.from({ length: 12_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(1000) }));
    await run.writeLines(
      'train.json',
      (async function* () {
        yield* big;
      })(),
    );
    const read = async (key: string) => (await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString()) ?? '';
    expect(await read('runs/r5/small.jsonl')).toBe('{"i":0}\n{"i":1}\n');
    const text = await read('runs/r5/train.json');
    expect(text.length).toBeGreaterThan(8 * 1024 * 1024);
    expect(text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(big.map((_, i) => i));
  });

  it('lists JSON documents under a sub-prefix and parses S3 URLs', async () => {
    const run = store('runs/r6/');
    await run.writeJson('parts/results/b00000/1.json', { accepted: 1 });
    await run.writeJson('parts/results/b00001/1.json', { accepted: 2 });
    expect(await collect(run.listJson<{ accepted: number }>('parts/results/'))).toEqual([{ accepted: 1 }, { accepted: 2 }]);
    expect(parseS3Url('s3://bucket/dir/roles.jsonl')).toEqual({ bucket: 'bucket', key: 'dir/roles.jsonl' });
    expect(parseS3Url('./roles.jsonl')).toBeUndefined();
    expect(() => new S3RunStore({ client: s3.client, bucket: BUCKET, prefix: 'runs/x' })).toThrow(/must end with/);
  });
});
