/**
 * One writer per run, in a local directory and under an S3 prefix: run.json is created conditionally and
 * run.lock names the one writer, so two claimants racing for one run never both proceed.
 *
 * s3rver (test/support/local-s3.ts) ignores If-None-Match and If-Match on PutObject: a second conditional
 * PUT simply replaces the object. The S3 cases therefore run against an in-memory S3 behind
 * aws-sdk-client-mock that applies the conditions as S3 does (412 PreconditionFailed, ETags).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { WriteConflictError, type LeaseStore, type RunStore } from '../../orchestrator/src/core/ports/run-store.ts';
import {
  claimRun,
  claimWriter,
  releaseWriter,
  RunBusyError,
  WRITER_LEASE,
  type RunManifest,
  type RunWriter,
  type WriterLease,
} from '../../orchestrator/src/core/run/run-manifest.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { S3RunStore } from '../../orchestrator/src/store/s3-run-store.ts';

const s3 = mockClient(S3Client);

/** An S3 bucket in memory that honours If-None-Match: * and If-Match on PutObject and DeleteObject, as S3 does. */
function conditionalBucket() {
  const objects = new Map<string, { body: string; etag: string }>();
  let written = 0;
  const preconditionFailed = () =>
    new S3ServiceException({
      name: 'PreconditionFailed',
      $fault: 'client',
      $metadata: { httpStatusCode: 412 },
      message: 'At least one of the pre-conditions you specified did not hold',
    });
  s3.on(PutObjectCommand).callsFake(async (input: { Key: string; Body: string; IfNoneMatch?: string; IfMatch?: string }) => {
    // Racing claims interleave here, as requests do on the wire; the check and the write below are one step, as in S3.
    await new Promise((resolve) => setImmediate(resolve));
    const current = objects.get(input.Key);
    if (input.IfNoneMatch === '*' && current !== undefined) throw preconditionFailed();
    if (input.IfMatch !== undefined && current === undefined)
      throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    if (input.IfMatch !== undefined && current?.etag !== input.IfMatch) throw preconditionFailed();
    const etag = `"etag-${++written}"`;
    objects.set(input.Key, { body: String(input.Body), etag });
    return { ETag: etag };
  });
  s3.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
    await new Promise((resolve) => setImmediate(resolve));
    const current = objects.get(input.Key);
    if (current === undefined) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    return { ETag: current.etag, Body: { transformToString: async () => current.body } };
  });
  s3.on(DeleteObjectCommand).callsFake(async (input: { Key: string; IfMatch?: string }) => {
    await new Promise((resolve) => setImmediate(resolve));
    if (input.IfMatch !== undefined && objects.get(input.Key)?.etag !== input.IfMatch) throw preconditionFailed();
    objects.delete(input.Key);
    return {};
  });
  return objects;
}

const manifest = (samples: number): RunManifest => ({
  run_id: 'run-1',
  created_at: '2026-01-01T00:00:00.000Z',
  profiles_file: 'roles.jsonl',
  profiles_sha256: 'ab'.repeat(32),
  format: 'generic',
  plan: { samples_per_profile: samples, cm_per_profile: 0, max_profiles: null, language: 'auto', seed: 42 },
});

/** A writer whose liveness the test decides: `alive` holds the ids of writers that still run. */
function writer(id: string, alive: Set<string>): RunWriter {
  return {
    lease: { writer: id, claimed_at: '2026-01-01T00:00:00.000Z' },
    isActive: async (holder: WriterLease) => alive.has(holder.writer),
  };
}

/** Claims that proceeded and claims refused, from claims started at the same moment. */
async function race(store: () => LeaseStore, writers: readonly RunWriter[]) {
  const outcomes = await Promise.allSettled(writers.map((w) => claimWriter(store(), w)));
  return {
    won: writers.filter((_, index) => outcomes[index]?.status === 'fulfilled').map((w) => w.lease.writer),
    refused: outcomes
      .filter((outcome) => outcome.status === 'rejected')
      .map((outcome) => (outcome as PromiseRejectedResult).reason as unknown),
  };
}

const stores: Record<string, () => () => LeaseStore & Pick<RunStore, 'readJson'>> = {
  'a local run directory': () => {
    const dir = mkdtempSync(join(tmpdir(), 'raiden-one-writer-'));
    return () => new LocalRunStoreSync(dir);
  },
  'an S3 prefix (conditional PUTs)': () => {
    conditionalBucket();
    return () => new S3RunStore({ client: new S3Client({ region: 'us-east-1' }), bucket: 'outputs', prefix: 'runs/run-1/' });
  },
};

/** LocalRunStore.open is async; a fresh store per claimant, as two processes each have their own. */
class LocalRunStoreSync implements LeaseStore, Pick<RunStore, 'readJson'> {
  readonly location: string;
  private readonly store: Promise<LocalRunStore>;
  constructor(dir: string) {
    this.location = dir;
    this.store = LocalRunStore.open(dir);
  }
  async readJson<T>(name: string) {
    return (await this.store).readJson<T>(name);
  }
  async writeJson(...args: Parameters<LocalRunStore['writeJson']>) {
    return (await this.store).writeJson(...args);
  }
  async readJsonVersion<T>(name: string) {
    return (await this.store).readJsonVersion<T>(name);
  }
  async deleteJson(...args: Parameters<LocalRunStore['deleteJson']>) {
    return (await this.store).deleteJson(...args);
  }
}

beforeEach(() => s3.reset());

describe.each(Object.entries(stores))('one writer per run in %s', (_where, makeStores) => {
  it('conditional writes: ifAbsent creates once, ifVersion replaces only the version read', async () => {
    const store = makeStores()();
    await store.writeJson('doc.json', { n: 1 }, { ifAbsent: true });
    await expect(store.writeJson('doc.json', { n: 2 }, { ifAbsent: true })).rejects.toBeInstanceOf(WriteConflictError);
    const read = await store.readJsonVersion<{ n: number }>('doc.json');
    expect(read?.value).toEqual({ n: 1 });
    await store.writeJson('doc.json', { n: 3 }, { ifVersion: read?.version ?? '' });
    await expect(store.writeJson('doc.json', { n: 4 }, { ifVersion: read?.version ?? '' })).rejects.toBeInstanceOf(WriteConflictError);
    await expect(store.deleteJson('doc.json', { ifVersion: read?.version ?? '' })).rejects.toBeInstanceOf(WriteConflictError);
    expect((await store.readJsonVersion('doc.json'))?.value).toEqual({ n: 3 });
  });

  it('two claims of a new run with different settings: one creates run.json, the other is told what differs', async () => {
    const store = makeStores();
    const [first, second] = await Promise.all([claimRun(store(), manifest(2)), claimRun(store(), manifest(5))]);
    expect([first, second].filter((conflicts) => conflicts.length === 0)).toHaveLength(1);
    expect([...first, ...second]).toEqual([expect.objectContaining({ field: 'samplesPerProfile' })]);
  });

  it('two claimants of one run with the same settings: exactly one proceeds, the other is refused naming it', async () => {
    const store = makeStores();
    const alive = new Set(['arn:execution:a', 'arn:execution:b']);
    const { won, refused } = await race(store, [writer('arn:execution:a', alive), writer('arn:execution:b', alive)]);
    expect(won).toHaveLength(1);
    expect(refused).toEqual([expect.any(RunBusyError)]);
    expect((refused[0] as RunBusyError).holder.writer).toBe(won[0]);
    expect((refused[0] as RunBusyError).message).toContain(`is being written by ${won[0]} since 2026-01-01T00:00:00.000Z`);
  });

  it('the same claimant again (a retried step) keeps its claim; a writer that ended is replaced, and the replacement is told whose', async () => {
    const store = makeStores();
    const alive = new Set(['arn:execution:a']);
    expect(await claimWriter(store(), writer('arn:execution:a', alive))).toBeUndefined();
    expect(await claimWriter(store(), writer('arn:execution:a', alive))).toBeUndefined();
    await expect(claimWriter(store(), writer('arn:execution:b', alive))).rejects.toBeInstanceOf(RunBusyError);
    alive.delete('arn:execution:a');
    alive.add('arn:execution:b');
    expect(await claimWriter(store(), writer('arn:execution:b', alive))).toMatchObject({ writer: 'arn:execution:a' });
    expect((await store().readJson<WriterLease>(WRITER_LEASE))?.writer).toBe('arn:execution:b');
  });

  it('of many resumers racing for a dead writer’s run, exactly one takes it over', async () => {
    const store = makeStores();
    await claimWriter(store(), writer('crashed', new Set()));
    const alive = new Set(Array.from({ length: 8 }, (_, i) => `resumer-${i}`));
    const { won, refused } = await race(
      store,
      [...alive].map((id) => writer(id, alive)),
    );
    expect(won).toHaveLength(1);
    expect(refused).toHaveLength(7);
    expect(refused.every((error) => error instanceof RunBusyError)).toBe(true);
    expect((await store().readJson<WriterLease>(WRITER_LEASE))?.writer).toBe(won[0]);
  });

  it('release ends only its own lease', async () => {
    const store = makeStores();
    const alive = new Set(['a', 'b']);
    const a = writer('a', alive);
    await claimWriter(store(), a);
    await releaseWriter(store(), writer('b', alive));
    expect((await store().readJson<WriterLease>(WRITER_LEASE))?.writer).toBe('a');
    await releaseWriter(store(), a);
    expect(await store().readJson(WRITER_LEASE)).toBeUndefined();
    expect(await claimWriter(store(), writer('b', alive))).toBeUndefined();
  });
});

describe('S3 conditional requests', () => {
  it('creates with If-None-Match: * and replaces with If-Match on the ETag read', async () => {
    conditionalBucket();
    const store = new S3RunStore({ client: new S3Client({ region: 'us-east-1' }), bucket: 'outputs', prefix: 'runs/run-1/' });
    const alive = new Set<string>();
    await claimWriter(store, writer('a', alive));
    await claimWriter(store, writer('b', alive));
    const puts = s3.commandCalls(PutObjectCommand).map((call) => call.args[0].input);
    expect(puts.map((input) => [input.Key, input.IfNoneMatch, input.IfMatch])).toEqual([
      ['runs/run-1/run.lock', '*', undefined],
      ['runs/run-1/run.lock', undefined, '"etag-1"'],
    ]);
  });
});
