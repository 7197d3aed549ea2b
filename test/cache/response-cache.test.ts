/**
 * The response cache: what its key covers, how a decorated backend answers from it, and the two stores
 * (a local directory with LRU eviction, an S3 prefix through s3rver).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
  const keyOf = (n: number) => n.toString(16).padStart(64, '0');

  it('stores whole answers by key, leaves no staged file behind, and refuses a name that is not a key', async () => {
    const dir = tempDir();
    const cache = await LocalResponseCache.open(dir);
    await cache.put(keyOf(1), { ...entry('x'.repeat(50_000)), backend: 'bedrock-batch' });
    expect(await cache.get(keyOf(1))).toEqual({ ...entry('x'.repeat(50_000)), backend: 'bedrock-batch' });
    expect(await cache.get(keyOf(2))).toBeUndefined();
    expect(readdirSync(join(dir, 'responses-v1', 'tmp'))).toEqual([]);
    expect(existsSync(join(dir, 'responses-v1', 'entries', '00', `${keyOf(1).slice(2)}.json`))).toBe(true);
    await expect(cache.get('../../etc/passwd')).rejects.toThrow(/not a response cache key/u);
  });

  it('treats an entry that is not one of its own as a miss and removes it', async () => {
    const dir = tempDir();
    const cache = await LocalResponseCache.open(dir);
    await cache.put(keyOf(3), entry('fine'));
    const path = join(dir, 'responses-v1', 'entries', '00', `${keyOf(3).slice(2)}.json`);
    writeFileSync(path, '{"key": "something else", "text": 1}');
    expect(await cache.get(keyOf(3))).toBeUndefined();
    expect(existsSync(path)).toBe(false);
  });

  it('stays within its bound by evicting the least recently used entries, and a read counts as a use', async () => {
    const dir = tempDir();
    // Each entry takes one 4 KiB block of disk, which is what the bound counts.
    const size = 4096;
    const cache = await LocalResponseCache.open(dir, { maxBytes: size * 10 });
    for (let n = 0; n < 10; n++) {
      await cache.put(keyOf(n), entry('a'.repeat(1000)));
      // mtimes a second apart, oldest first, so the order does not rest on the clock's resolution.
      const path = join(dir, 'responses-v1', 'entries', '00', `${keyOf(n).slice(2)}.json`);
      utimesSync(path, new Date(1_000_000 + n * 1000), new Date(1_000_000 + n * 1000));
    }
    // Entry 0 is the oldest but read now: entry 1 becomes the least recently used.
    expect(await cache.get(keyOf(0))).toBeDefined();
    await cache.put(keyOf(10), entry('a'.repeat(1000)));
    const kept = [];
    for (let n = 0; n <= 10; n++) if ((await cache.get(keyOf(n))) !== undefined) kept.push(n);
    expect(kept).not.toContain(1);
    expect(kept).toContain(0);
    expect(kept).toContain(10);
    expect(kept.length).toBeLessThanOrEqual(9);
    expect(JSON.parse(readFileSync(join(dir, 'responses-v1', 'size.json'), 'utf8')).bytes).toBeLessThanOrEqual(size * 9);
  });

  it('removes a staged entry a killed writer left behind, once it is old', async () => {
    const dir = tempDir();
    const cache = await LocalResponseCache.open(dir);
    const stale = join(dir, 'responses-v1', 'tmp', '999-dead.json');
    writeFileSync(stale, '{"half": ');
    utimesSync(stale, new Date(0), new Date(0));
    await cache.sweep();
    expect(existsSync(stale)).toBe(false);
    expect(statSync(join(dir, 'responses-v1', 'size.json')).isFile()).toBe(true);
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
