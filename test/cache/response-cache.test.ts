/**
 * The response cache: what its key covers, how a decorated backend answers from it, and the two stores
 * (a local directory of append-only segments, evicted oldest first; an S3 prefix through s3rver).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../../orchestrator/src/core/ports/llm-backend.ts';
import type { CachedResponse, ResponseCache } from '../../orchestrator/src/core/ports/response-cache.ts';
import { CachedBackend, newCacheStats, responseCacheKey, slotDraw } from '../../orchestrator/src/core/run/response-cache.ts';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';
import { S3ResponseCache } from '../../orchestrator/src/store/s3-response-cache.ts';
import { defaultCacheDir, openCacheOption } from '../../orchestrator/src/cli/response-cache-options.ts';
import { startLocalS3, type LocalS3 } from '../support/local-s3.ts';

const REQUEST: GenerateRequest = {
  messages: [
    { role: 'system', content: 'You write samples.' },
    { role: 'user', content: '<character_profile>\nname: A\n</character_profile>\nSBK sample number 1' },
  ],
  schema: { name: 'raiden_sbk_sample', schema: { type: 'object', required: ['question'], properties: { question: { type: 'string' } } } },
  maxTokens: 2048,
  temperature: 0.8,
};
const SGLANG = { name: 'sglang', models: () => ['qwen'] };
const tempDir = () => mkdtempSync(join(tmpdir(), 'raiden-cache-'));

/** A backend that answers with a new text per call and counts its calls; `fail` makes the n-th call a transport failure. */
function countingBackend(fail: (n: number) => boolean = () => false): LlmBackend & { calls: GenerateRequest[] } {
  const calls: GenerateRequest[] = [];
  return {
    name: 'sglang',
    calls,
    inFlight: () => 0,
    models: () => ['qwen'],
    async generate(request): Promise<GenerateResult> {
      calls.push(request);
      if (fail(calls.length)) throw new TransportError('connection reset', 1);
      return { text: `answer ${calls.length}`, model: 'qwen', usage: { inputTokens: 100, outputTokens: 40 }, requests: 2 };
    },
  };
}

function memoryCache(): ResponseCache & { entries: Map<string, CachedResponse> } {
  const entries = new Map<string, CachedResponse>();
  return {
    location: 'memory',
    entries,
    get: async (key) => entries.get(key),
    put: async (key, response) => void entries.set(key, response),
  };
}

describe('the key', () => {
  const key = (request: GenerateRequest, backend: Pick<LlmBackend, 'name' | 'models'> = SGLANG, draw = 'attempt 1 candidate 0') =>
    responseCacheKey(backend, request, draw);

  it('changes with the backend, its model, the messages, the schema, the sampling parameters and the draw', () => {
    const base = key(REQUEST);
    expect(base).toMatch(/^[0-9a-f]{64}$/u);
    const variants = [
      key(REQUEST, { name: 'bedrock', models: () => ['qwen'] }),
      key(REQUEST, { name: 'sglang', models: () => ['llama'] }),
      key({ ...REQUEST, messages: [...REQUEST.messages, { role: 'user', content: 'more' }] }),
      key({ ...REQUEST, schema: { ...REQUEST.schema, name: 'raiden_cm_sample' } }),
      key({ ...REQUEST, schema: { ...REQUEST.schema, schema: { type: 'object' } } }),
      key({ ...REQUEST, maxTokens: 1024 }),
      key({ ...REQUEST, temperature: 0.7 }),
      key(REQUEST, SGLANG, 'attempt 2 candidate 0'),
      key(REQUEST, SGLANG, 'attempt 1 candidate 1'),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('tells apart messages that split the same text differently, another system prompt and another role', () => {
    const split = (first: string, second: string): GenerateRequest => ({
      ...REQUEST,
      messages: [
        { role: 'user', content: first },
        { role: 'user', content: second },
      ],
    });
    expect(key(split('ab', 'c'))).not.toBe(key(split('a', 'bc')));
    expect(key(split('a\n', 'b'))).not.toBe(key(split('a', '\nb')));
    const [system, user] = REQUEST.messages as [GenerateRequest['messages'][number], GenerateRequest['messages'][number]];
    expect(key({ ...REQUEST, messages: [{ role: 'system', content: 'You write samples!' }, user] })).not.toBe(key(REQUEST));
    expect(key({ ...REQUEST, messages: [{ role: 'user', content: system.content }, user] })).not.toBe(key(REQUEST));
  });

  it('is the same for an equal request built apart (its system prompt and schema made again)', () => {
    const rebuilt: GenerateRequest = {
      ...REQUEST,
      messages: REQUEST.messages.map((message) => ({ role: message.role, content: [...message.content].join('') })),
      schema: structuredClone(REQUEST.schema),
    };
    expect(key(rebuilt)).toBe(key(REQUEST));
  });

  it('does not change with the order a schema was built in, or the order the server lists its models in', () => {
    const reordered = {
      ...REQUEST,
      schema: {
        name: REQUEST.schema.name,
        schema: { properties: { question: { type: 'string' } }, required: ['question'], type: 'object' },
      },
    };
    expect(key(reordered)).toBe(key(REQUEST));
    expect(key(REQUEST, { name: 'sglang', models: () => ['b', 'a'] })).toBe(key(REQUEST, { name: 'sglang', models: () => ['a', 'b'] }));
  });
});

describe('a backend behind the cache', () => {
  it('answers a request it has seen from the cache: no call, no request counted, the stored usage and the entry key', async () => {
    const cache = memoryCache();
    const inner = countingBackend();
    const stats = newCacheStats();
    const first = await new CachedBackend(inner, cache, stats).generate({ ...REQUEST, draw: { attempt: 1, candidate: 0 } });
    const again = await new CachedBackend(inner, cache, stats).generate({ ...REQUEST, draw: { attempt: 1, candidate: 0 } });
    expect(inner.calls).toHaveLength(1);
    expect(first).toMatchObject({ text: 'answer 1', requests: 2, cache: { hit: false } });
    expect(again).toEqual({
      text: 'answer 1',
      model: 'qwen',
      usage: { inputTokens: 100, outputTokens: 40 },
      requests: 0,
      cache: { key: first.cache?.key, hit: true },
    });
    expect(first.cache?.key).toBe(responseCacheKey(SGLANG, REQUEST, slotDraw({ attempt: 1, candidate: 0 })));
    expect(stats).toEqual({ hits: 1, misses: 1, errors: 0, savedInputTokens: 100, savedOutputTokens: 40 });
  });

  it('gives each attempt and candidate of a slot its own answer', async () => {
    const inner = countingBackend();
    const backend = new CachedBackend(inner, memoryCache(), newCacheStats());
    const texts = [];
    for (const draw of [
      { attempt: 1, candidate: 0 },
      { attempt: 1, candidate: 1 },
      { attempt: 2, candidate: 0 },
      { attempt: 1, candidate: 0 },
    ])
      texts.push((await backend.generate({ ...REQUEST, draw })).text);
    expect(texts).toEqual(['answer 1', 'answer 2', 'answer 3', 'answer 1']);
    expect(inner.calls).toHaveLength(3);
  });

  it('numbers repeats of a request without a draw (a judge retry, a gate sampling four answers), and a rerun asks the same numbers', async () => {
    const cache = memoryCache();
    const inner = countingBackend();
    const first = new CachedBackend(inner, cache, newCacheStats());
    const answers = await Promise.all([1, 2, 3, 4].map(() => first.generate(REQUEST)));
    expect(new Set(answers.map((answer) => answer.text)).size).toBe(4);
    const rerun = new CachedBackend(inner, cache, newCacheStats());
    const replayed = await Promise.all([1, 2, 3, 4].map(() => rerun.generate(REQUEST)));
    expect(replayed.map((answer) => answer.text).sort()).toEqual(answers.map((answer) => answer.text).sort());
    expect(inner.calls).toHaveLength(4);
  });

  it('a failed call stores nothing and leaves its draw to the next try', async () => {
    const cache = memoryCache();
    const inner = countingBackend((n) => n === 1);
    const backend = new CachedBackend(inner, cache, newCacheStats());
    await expect(backend.generate(REQUEST)).rejects.toBeInstanceOf(TransportError);
    expect(cache.entries.size).toBe(0);
    const retried = await backend.generate(REQUEST);
    const rerun = await new CachedBackend(inner, cache, newCacheStats()).generate(REQUEST);
    expect(rerun).toMatchObject({ text: retried.text, cache: { hit: true } });
  });

  it('a cache that fails to read or write is counted and bypassed: the model answers', async () => {
    const broken: ResponseCache = {
      location: 'broken',
      get: async () => {
        throw new Error('EIO');
      },
      put: async () => {
        throw new Error('ENOSPC');
      },
    };
    const stats = newCacheStats();
    const result = await new CachedBackend(countingBackend(), broken, stats).generate(REQUEST);
    expect(result.text).toBe('answer 1');
    expect(stats).toMatchObject({ errors: 2, misses: 1, hits: 0 });
  });
});

describe('the local cache directory', () => {
  const entry = (text: string): CachedResponse => ({ text, model: 'qwen', usage: { inputTokens: 10, outputTokens: 5 } });
  // Keys are SHA-256 digests, spread over all their bits, as the index expects.
  const keyOf = (n: number) => createHash('sha256').update(String(n)).digest('hex');
  const segmentsOf = (dir: string) => join(dir, 'responses-v2', 'segments');
  const files = (dir: string, extension: string) =>
    readdirSync(segmentsOf(dir))
      .filter((name) => name.endsWith(extension))
      .sort()
      .map((name) => join(segmentsOf(dir), name));

  it('stores whole answers by key in a segment of its own, read again by the next process, and refuses a name that is not a key', async () => {
    const dir = tempDir();
    const cache = await LocalResponseCache.open(dir);
    await cache.put(keyOf(1), { ...entry('x'.repeat(50_000)), backend: 'bedrock-batch' });
    await cache.put(keyOf(2), entry('two'));
    expect(await cache.get(keyOf(1))).toEqual({ ...entry('x'.repeat(50_000)), backend: 'bedrock-batch' });
    expect(await cache.get(keyOf(3))).toBeUndefined();
    expect(readdirSync(segmentsOf(dir))).toHaveLength(1);
    const next = await LocalResponseCache.open(dir);
    expect(await next.get(keyOf(1))).toEqual({ ...entry('x'.repeat(50_000)), backend: 'bedrock-batch' });
    expect(await next.get(keyOf(2))).toEqual(entry('two'));
    await next.put(keyOf(2), entry('two again'));
    expect(await next.get(keyOf(2))).toEqual(entry('two again'));
    expect(readdirSync(segmentsOf(dir))).toHaveLength(2);
    await expect(cache.get('../../etc/passwd')).rejects.toThrow(/not a response cache key/u);
  });

  it('reads the answers another process stores at its next look, at most once per refresh interval', async () => {
    const dir = tempDir();
    const eager = await LocalResponseCache.open(dir, { refreshMs: 0 });
    const slow = await LocalResponseCache.open(dir, { refreshMs: 3_600_000 });
    const other = await LocalResponseCache.open(dir);
    await other.put(keyOf(1), entry('from another process'));
    expect(await eager.get(keyOf(1))).toEqual(entry('from another process'));
    // Looked at the directory when it opened, an hour is not over: a miss without reading anything.
    expect(await slow.get(keyOf(1))).toBeUndefined();
  });

  it('a process whose segment another process evicted appends to a new one, which others read', async () => {
    const dir = tempDir();
    const cache = await LocalResponseCache.open(dir, { refreshMs: 0 });
    await cache.put(keyOf(1), entry('one'));
    const [evicted] = files(dir, '.seg');
    unlinkSync(evicted!);
    // A miss looks at the directory again.
    expect(await cache.get(keyOf(2))).toBeUndefined();
    await cache.put(keyOf(3), entry('three'));
    expect(files(dir, '.seg')).toHaveLength(1);
    expect(await (await LocalResponseCache.open(dir)).get(keyOf(3))).toEqual(entry('three'));
  });

  it('a record damaged on disk is a miss, and storing its key again supersedes it, in this process and the next', async () => {
    const dir = tempDir();
    const cache = await LocalResponseCache.open(dir);
    await cache.put(keyOf(1), entry('first'));
    await cache.put(keyOf(2), entry('second'));
    const [segment] = files(dir, '.seg');
    const bytes = readFileSync(segment!);
    // The first record's answer, "first", made "First": still JSON, caught by the checksum alone.
    bytes[53] = bytes[53]! ^ 0x20;
    writeFileSync(segment!, bytes);
    const next = await LocalResponseCache.open(dir);
    expect(await next.get(keyOf(1))).toBeUndefined();
    expect(await next.get(keyOf(2))).toEqual(entry('second'));
    await next.put(keyOf(1), entry('first again'));
    expect(await next.get(keyOf(1))).toEqual(entry('first again'));
    expect(await (await LocalResponseCache.open(dir)).get(keyOf(1))).toEqual(entry('first again'));
  });

  it('a torn record at the end of a segment (a crash in the middle of a write) is ignored, with what follows it', async () => {
    for (const tear of ['cut', 'zeros'] as const) {
      const dir = tempDir();
      const cache = await LocalResponseCache.open(dir);
      for (let n = 0; n < 3; n++) await cache.put(keyOf(n), entry(`answer ${n} ${'y'.repeat(500)}`));
      const [segment] = files(dir, '.seg');
      const whole = readFileSync(segment!);
      const third = (whole.length / 3) * 2;
      // The third record cut in its answer, or (a file system that grew the file before writing it) its last page zeros.
      if (tear === 'cut') truncateSync(segment!, third + 100);
      else writeFileSync(segment!, Buffer.concat([whole.subarray(0, third), Buffer.alloc(4096)]));
      const next = await LocalResponseCache.open(dir);
      expect(await next.get(keyOf(0)), tear).toEqual(entry(`answer 0 ${'y'.repeat(500)}`));
      expect(await next.get(keyOf(1)), tear).toEqual(entry(`answer 1 ${'y'.repeat(500)}`));
      expect(await next.get(keyOf(2)), tear).toBeUndefined();
      await next.put(keyOf(2), entry('stored again'));
      expect(await (await LocalResponseCache.open(dir)).get(keyOf(2)), tear).toEqual(entry('stored again'));
    }
  });

  it('stays within its bound by deleting the oldest segments whole, and keeps an answer read from them', async () => {
    const dir = tempDir();
    // About 1,100 bytes a record, two records a segment (a sixteenth of the bound).
    const maxBytes = 40_000;
    const cache = await LocalResponseCache.open(dir, { maxBytes, refreshMs: 0 });
    // What a process killed at the wrong moment leaves: the index of a deleted segment, index files being staged.
    const orphan = join(segmentsOf(dir), '00000000a-1-dead.idx');
    const abandoned = join(segmentsOf(dir), '00000000a-1-dead.idx.1-aa.tmp');
    const staging = join(segmentsOf(dir), '00000000a-1-live.idx.2-bb.tmp');
    for (const path of [orphan, abandoned, staging]) writeFileSync(path, 'x');
    utimesSync(abandoned, new Date(0), new Date(0));
    const answer = (n: number) => entry(`${n} ${'a'.repeat(1000)}`);
    for (let n = 0; n < 30; n++) await cache.put(keyOf(n), answer(n));
    expect(files(dir, '.seg')).toHaveLength(15);
    // The cache is more than half full and entry 0 is in its oldest segment: reading it copies it forward.
    expect(await cache.get(keyOf(0))).toEqual(answer(0));
    for (let n = 30; n < 45; n++) await cache.put(keyOf(n), answer(n));
    const onDisk = files(dir, '.seg').reduce((sum, path) => sum + statSync(path).size, 0);
    expect(onDisk).toBeLessThanOrEqual(maxBytes);
    expect(await cache.get(keyOf(1))).toBeUndefined();
    expect(await cache.get(keyOf(0))).toEqual(answer(0));
    expect(await cache.get(keyOf(44))).toEqual(answer(44));
    expect([orphan, abandoned, staging].map((path) => existsSync(path))).toEqual([false, false, true]);
    const next = await LocalResponseCache.open(dir, { maxBytes });
    expect(await next.get(keyOf(0))).toEqual(answer(0));
    expect(await next.get(keyOf(1))).toBeUndefined();
  });

  it('the first process to read a large segment writes its index, which the next one reads instead of the records', async () => {
    const dir = tempDir();
    const writer = await LocalResponseCache.open(dir);
    // A little over the 1 MiB a segment must hold past its index before one is written.
    for (let n = 0; n < 1000; n++) await writer.put(keyOf(n), entry(`${n} ${'b'.repeat(1100)}`));
    expect(files(dir, '.idx')).toEqual([]);
    await LocalResponseCache.open(dir);
    const [segment] = files(dir, '.seg');
    const [index] = files(dir, '.idx');
    expect(index).toBe(segment!.replace(/\.seg$/u, '.idx'));
    // The first record's header damaged: reading the records would stop there, the index does not need them.
    const bytes = readFileSync(segment!);
    bytes[0] = 0;
    writeFileSync(segment!, bytes);
    const indexed = await LocalResponseCache.open(dir);
    expect(await indexed.get(keyOf(0))).toBeUndefined();
    expect(await indexed.get(keyOf(999))).toEqual(entry(`999 ${'b'.repeat(1100)}`));
    // A damaged index is not used: the records are read (and stop at the damaged header).
    const damaged = readFileSync(index!);
    damaged[20] = damaged[20]! ^ 0xff;
    writeFileSync(index!, damaged);
    expect(await (await LocalResponseCache.open(dir)).get(keyOf(999))).toBeUndefined();
  });

  it('the flags win over the environment: --no-cache, then --cache-dir, then RAIDEN_NO_CACHE, then RAIDEN_CACHE_DIR', async () => {
    const flagged = tempDir();
    const fromEnv = tempDir();
    expect(await openCacheOption({ cache: false, cacheDir: flagged }, {})).toBeUndefined();
    expect(await openCacheOption({ cache: true }, { RAIDEN_NO_CACHE: '1', RAIDEN_CACHE_DIR: fromEnv })).toBeUndefined();
    expect((await openCacheOption({ cache: true, cacheDir: flagged }, { RAIDEN_NO_CACHE: '1' }))?.location).toBe(flagged);
    expect((await openCacheOption({ cache: true }, { RAIDEN_NO_CACHE: '0', RAIDEN_CACHE_DIR: fromEnv }))?.location).toBe(fromEnv);
    await expect(openCacheOption({ cache: true, cacheDir: flagged }, { RAIDEN_CACHE_MAX_GB: 'lots' })).rejects.toThrow(
      /RAIDEN_CACHE_MAX_GB=lots is not a size/u,
    );
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    await expect(openCacheOption({ cache: true, cacheDir: file }, {})).rejects.toThrow(/cannot use the response cache in .*--no-cache/u);
  });

  it('lives in the user cache folder by default', () => {
    expect(defaultCacheDir({}, 'linux', '/home/u')).toBe('/home/u/.cache/raiden');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' }, 'linux', '/home/u')).toBe('/xdg/raiden');
    expect(defaultCacheDir({}, 'darwin', '/Users/u')).toBe('/Users/u/Library/Caches/raiden');
    expect(defaultCacheDir({ LOCALAPPDATA: 'C:/Users/u/AppData/Local' }, 'win32', 'C:/Users/u')).toBe(
      join('C:/Users/u/AppData/Local', 'raiden', 'Cache'),
    );
  });
});

describe('the S3 cache prefix', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3(['raiden-cache-test']);
  });
  afterAll(async () => {
    await s3.close();
  });

  it('stores one object per answer under the prefix and reads it back; a missing key is a miss', async () => {
    const cache = new S3ResponseCache({ client: s3.client, bucket: 'raiden-cache-test', prefix: 'cache/responses/' });
    const key = 'ab'.repeat(32);
    await cache.put(key, {
      text: '{"question": "…"}',
      model: 'claude',
      usage: { inputTokens: 1, outputTokens: 2, cacheReadInputTokens: 3 },
    });
    expect(await cache.get(key)).toEqual({
      text: '{"question": "…"}',
      model: 'claude',
      usage: { inputTokens: 1, outputTokens: 2, cacheReadInputTokens: 3 },
    });
    expect(await cache.get('cd'.repeat(32))).toBeUndefined();
    expect(cache.location).toBe('s3://raiden-cache-test/cache/responses/');
  });
});
