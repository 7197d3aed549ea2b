import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type CreateMultipartUploadCommandOutput,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RejectRecord, Sample } from '../../orchestrator/src/core/verify/sample.ts';
import { WriteConflictError } from '../../orchestrator/src/core/ports/run-store.ts';
import { IN_FLIGHT_CONFLICT_RETRY, S3RunStore } from '../../orchestrator/src/store/s3-run-store.ts';
import { collect } from '../support/collect.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../support/local-s3.ts';

const BUCKET = 'raiden-outputs-test';
const sample = (id: string, question = `q ${id}`) => ({ id, question }) as unknown as Sample;
const reject = (slot: string, attempt: number) =>
  ({
    slot_id: slot,
    attempt,
    reason: 'invalid_json',
    detail: '',
    raw_output: '',
    backend: 'sglang',
    model: 'm',
    usage: { input_tokens: 1, output_tokens: 1 },
    rejected_at: '',
  }) as RejectRecord;

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3([BUCKET]);
});
afterAll(async () => s3.close());

const store = (prefix: string, partition?: string) =>
  new S3RunStore({ client: s3.client, bucket: BUCKET, prefix, ...(partition ? { partition } : {}) });

interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
  output?: ServiceOutputTypes;
}

/** A client of the same s3rver that records the commands it sends, in the order it sends them. */
function recordingClient(): { client: S3Client; sent: SentCommand[] } {
  const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS });
  const sent: SentCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command: SentCommand = { name: context.commandName as string, input: args.input as Record<string, unknown> };
      sent.push(command);
      // s3rver has no AbortMultipartUpload: answer it here, after recording it.
      if (command.name === 'AbortMultipartUploadCommand') return { output: { $metadata: {} }, response: {} };
      const result = await next(args);
      command.output = result.output;
      return result;
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, sent };
}

const readObject = async (key: string) =>
  (await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString()) ?? '';
const bigLines = (count: number) => Array.from({ length: count }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(1000) }));

describe('S3 run store (s3rver through @aws-sdk/client-s3)', () => {
  it('writes each sample as its own object, keyed by id, so a rewrite never duplicates', async () => {
    const batch = store('runs/r1/', 'b00000');
    await batch.appendSample(sample('老默/SBK/0'));
    await batch.appendSample(sample('老默/SBK/1'));
    await batch.appendSample(sample('老默/SBK/0', 'rewritten by a retried batch'));
    const keys = (await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/r1/' }))).Contents?.map((o) => o.Key);
    expect(keys).toEqual([
      `runs/r1/parts/samples/b00000/${encodeURIComponent('老默')}/SBK/0.json`,
      `runs/r1/parts/samples/b00000/${encodeURIComponent('老默')}/SBK/1.json`,
    ]);
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
    const { client, sent } = recordingClient();
    const run = new S3RunStore({ client, bucket: BUCKET, prefix: 'runs/r5/' });
    await run.writeLines('small.jsonl', ['{"i":0}', '{"i":1}']);
    await run.writeLines('empty.jsonl', []);
    expect(sent.map((c) => [c.name, c.input.Key, c.input.ContentType])).toEqual([
      ['PutObjectCommand', 'runs/r5/small.jsonl', 'application/x-ndjson'],
      ['PutObjectCommand', 'runs/r5/empty.jsonl', 'application/x-ndjson'],
    ]);
    expect(await readObject('runs/r5/small.jsonl')).toBe('{"i":0}\n{"i":1}\n');
    expect(await readObject('runs/r5/empty.jsonl')).toBe('');

    sent.length = 0;
    // About 12 MB: one full 8 MiB part and the rest.
    const big = bigLines(12_000);
    await run.writeLines(
      'train.json',
      (async function* () {
        yield* big;
      })(),
    );
    expect(sent.map((c) => c.name)).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect(sent[0]?.input.ContentType).toBe('application/json');
    expect((sent[1]?.input.Body as Uint8Array).byteLength).toBe(8 * 1024 * 1024);
    const text = await readObject('runs/r5/train.json');
    expect(text.length).toBeGreaterThan(8 * 1024 * 1024);
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { i: number }).i),
    ).toEqual(big.map((_, i) => i));
    client.destroy();
  });

  it('writes a file held whole with one PUT and a streamed one by multipart upload, byte for byte', async () => {
    const { client, sent } = recordingClient();
    const run = new S3RunStore({ client, bucket: BUCKET, prefix: 'runs/r6/' });
    await run.writeFile('exports/verl/README.md', '# card\n');
    expect(sent.map((c) => [c.name, c.input.Key])).toEqual([['PutObjectCommand', 'runs/r6/exports/verl/README.md']]);
    expect(await readObject('runs/r6/exports/verl/README.md')).toBe('# card\n');

    sent.length = 0;
    // About 10 MB of every byte value (no text), in the uneven chunks a Parquet writer hands out.
    const chunks = Array.from({ length: 7 }, (_, n) => Uint8Array.from({ length: 1_500_000 + n }, (_, i) => (i * 7 + n) % 256));
    await run.writeFile(
      'exports/verl/train.parquet',
      (async function* () {
        yield* chunks;
      })(),
    );
    expect(sent.map((c) => c.name)).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect(sent[0]?.input.ContentType).toBe('application/octet-stream');
    const object = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'runs/r6/exports/verl/train.parquet' }));
    expect(Buffer.from((await object.Body?.transformToByteArray()) ?? []).equals(Buffer.concat(chunks))).toBe(true);
    client.destroy();
  });

  it('aborts a multipart upload whose lines fail, rethrows the failure and leaves the old object', async () => {
    const { client, sent } = recordingClient();
    const run = new S3RunStore({ client, bucket: BUCKET, prefix: 'runs/r7/' });
    await run.writeLines('samples.jsonl', ['{"old":true}']);
    sent.length = 0;
    const failure = new Error('source failed after one part');
    const failing = async function* () {
      yield* bigLines(9_000);
      throw failure;
    };
    await expect(run.writeLines('samples.jsonl', failing())).rejects.toBe(failure);
    const names = sent.map((c) => c.name);
    expect(names[0]).toBe('CreateMultipartUploadCommand');
    expect(names.at(-1)).toBe('AbortMultipartUploadCommand');
    expect(names).not.toContain('CompleteMultipartUploadCommand');
    expect(names).not.toContain('PutObjectCommand');
    const uploadId = (sent[0]?.output as CreateMultipartUploadCommandOutput).UploadId;
    expect(uploadId).toEqual(expect.any(String));
    expect(sent.at(-1)?.input.UploadId).toBe(uploadId);
    expect(await readObject('runs/r7/samples.jsonl')).toBe('{"old":true}\n');

    sent.length = 0;
    const earlyFailure = new Error('source failed at once');
    await expect(
      run.writeLines(
        'samples.jsonl',
        (async function* () {
          yield '{"new":true}';
          throw earlyFailure;
        })(),
      ),
    ).rejects.toBe(earlyFailure);
    expect(sent).toEqual([]);
    expect(await readObject('runs/r7/samples.jsonl')).toBe('{"old":true}\n');
    client.destroy();
  });

  it('consolidates the parts into samples.jsonl and rejects.jsonl and reads them back', async () => {
    await store('runs/r8/', 'b00000').appendSample(sample('a/SBK/0'));
    await store('runs/r8/', 'b00001').appendSample(sample('a/SBK/0', 'a later duplicate'));
    await store('runs/r8/', 'b00001').appendSample(sample('b/SBK/0'));
    await store('runs/r8/', 'b00001').appendReject(reject('b/SBK/1', 1));
    const consolidated = await store('runs/r8/').consolidate();
    expect(
      (await readObject('runs/r8/samples.jsonl'))
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([sample('a/SBK/0'), sample('b/SBK/0')]);
    expect(JSON.parse(await readObject('runs/r8/rejects.jsonl'))).toEqual(reject('b/SBK/1', 1));
    expect((await collect(consolidated.readSamples())).map((s) => [s.id, s.question])).toEqual([
      ['a/SBK/0', 'q a/SBK/0'],
      ['b/SBK/0', 'q b/SBK/0'],
    ]);
    expect(await collect(consolidated.readRejects())).toEqual([reject('b/SBK/1', 1)]);
  });

  it('lists JSON documents under a sub-prefix and wants a prefix ending in a slash', async () => {
    const run = store('runs/r6/');
    await run.writeJson('parts/results/b00000/1.json', { accepted: 1 });
    await run.writeJson('parts/results/b00001/1.json', { accepted: 2 });
    expect(await collect(run.listJson<{ accepted: number }>('parts/results/'))).toEqual([{ accepted: 1 }, { accepted: 2 }]);
    expect(() => new S3RunStore({ client: s3.client, bucket: BUCKET, prefix: 'runs/x' })).toThrow(/must end with/);
  });
});

// s3rver's continuation tokens use DES, which Node 22's OpenSSL no longer has: list pages come from a mock.
describe('S3 run store listing (mocked ListObjectsV2 pages)', () => {
  it('follows continuation tokens to the last page', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS });
    const mock = mockClient(client);
    const page = (keys: string[], next?: string) => ({
      Contents: keys.map((Key) => ({ Key })),
      IsTruncated: next !== undefined,
      NextContinuationToken: next,
    });
    const pages = [
      page(['runs/r9/parts/samples/a.json', 'runs/r9/parts/samples/b.json'], 'page-2'),
      page(['runs/r9/parts/samples/c.json'], 'page-3'),
      page([]),
    ];
    // The paginator reuses one input object: copy each request as it is sent.
    const requests: unknown[] = [];
    mock.on(ListObjectsV2Command).callsFake((input: { Prefix?: string; ContinuationToken?: string }) => {
      requests.push({ Prefix: input.Prefix, ContinuationToken: input.ContinuationToken });
      return pages.shift();
    });
    for (const id of ['a', 'b', 'c']) {
      mock
        .on(GetObjectCommand, { Key: `runs/r9/parts/samples/${id}.json` })
        .resolves({ Body: { transformToString: async () => JSON.stringify(sample(id)) } } as never);
    }
    const run = new S3RunStore({ client, bucket: BUCKET, prefix: 'runs/r9/' });
    expect((await collect(run.readSamples())).map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(requests).toEqual([
      { Prefix: 'runs/r9/parts/samples/', ContinuationToken: undefined },
      { Prefix: 'runs/r9/parts/samples/', ContinuationToken: 'page-2' },
      { Prefix: 'runs/r9/parts/samples/', ContinuationToken: 'page-3' },
    ]);
    mock.restore();
    client.destroy();
  });
});

describe('conditional writes: a conflict in flight is retried, a false condition is not', () => {
  const s3Error = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

  it('409 ConditionalRequestConflict: the same write again after a pause; 412 PreconditionFailed: a lost race at once', async () => {
    const client = new S3Client({ region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS });
    const mock = mockClient(client);
    const store = new S3RunStore({ client, bucket: 'b', prefix: 'runs/r1/' });
    mock
      .on(PutObjectCommand)
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .rejectsOnce(s3Error('ConditionalRequestConflict', 409))
      .resolves({ ETag: '"e1"' });
    await store.writeJson('run.lock', { writer: 'w' }, { ifAbsent: true });
    const puts = mock.commandCalls(PutObjectCommand);
    expect(puts).toHaveLength(3);
    expect(puts.every((call) => call.args[0].input.IfNoneMatch === '*' && call.args[0].input.Key === 'runs/r1/run.lock')).toBe(true);

    mock.reset();
    mock.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    await expect(store.writeJson('run.lock', { writer: 'w' }, { ifAbsent: true })).rejects.toThrow(WriteConflictError);
    expect(mock.commandCalls(PutObjectCommand)).toHaveLength(1);

    // A conflict that outlasts the retries is reported like a lost race, and the claim reads the lease again.
    mock.reset();
    mock.on(DeleteObjectCommand).rejects(s3Error('ConditionalRequestConflict', 409));
    await expect(store.deleteJson('run.lock', { ifVersion: '"e1"' })).rejects.toThrow(WriteConflictError);
    expect(mock.commandCalls(DeleteObjectCommand)).toHaveLength(IN_FLIGHT_CONFLICT_RETRY.attempts);
    mock.restore();
    client.destroy();
  });
});
