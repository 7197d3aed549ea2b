/**
 * The response cache in front of any backend: a request already answered is given the stored answer, so
 * a rerun, a second run on the same profiles or a fill after `raiden reverify` pays for no answer twice.
 *
 * The key is a SHA-256 of what decides the answer: the backend and its models, what its servers say they
 * serve (an SGLang server's model path: another server under the same model name is another model), the
 * exact messages, the response schema, max tokens, temperature, and which draw of that request this is. A slot's draw is its
 * attempt (and candidate, for the filter strategy), which the request carries: a retry asks a new
 * question of the cache and gets a fresh answer. Review calls (judge, quality gates, evaluation) carry no
 * draw; their n-th identical request in a process is draw n, so a judge's retry or a gate's four student
 * answers are four draws, and a rerun asks the same four again.
 */
import { createHash, type Hash } from 'node:crypto';
import type { GenerateRequest, GenerateResult, LlmBackend, ResponseSchema } from '../ports/llm-backend.ts';
import type { ResponseCache } from '../ports/response-cache.ts';

/** Bumped when what a key covers, or how it is written, changes, so old entries are never served for the new meaning. */
const KEY_VERSION = 'raiden-response-v2';

/** What the cache did for a run's backends, for summaries and benchmarks (report.json counts from the records). */
export interface ResponseCacheStats {
  hits: number;
  misses: number;
  /** Reads or writes of the cache that failed; the model was asked (or its answer kept) regardless. */
  errors: number;
  savedInputTokens: number;
  savedOutputTokens: number;
}

export function newCacheStats(): ResponseCacheStats {
  return { hits: 0, misses: 0, errors: 0, savedInputTokens: 0, savedOutputTokens: 0 };
}

type KeyedBackend = Pick<LlmBackend, 'name' | 'models' | 'servedModels'>;

/** The key of one draw of a request to a backend. */
export function responseCacheKey(backend: KeyedBackend, request: GenerateRequest, draw: string): string {
  return keyOf(requestHash(backend, request), draw);
}

function keyOf(request: Hash, draw: string): string {
  return request.update('\n').update(draw).digest('hex');
}

/** A slot's draw: its attempt and candidate. */
export function slotDraw(draw: NonNullable<GenerateRequest['draw']>): string {
  return `attempt ${draw.attempt} candidate ${draw.candidate}`;
}

/**
 * A SHA-256 fed everything but the draw: two requests that would be answered alike feed it the same bytes.
 * First one line of JSON: the backend, its models, what its servers serve, max tokens, temperature, the
 * schema's digest and, per message, its role and either its length or (a system prompt) its digest; then
 * each other message's text after a line break, whose length the line gave. System prompts are the same few
 * long texts in every request: each is hashed once per process, and a request's own text (profile and
 * task) is hashed as it is, never escaped into JSON.
 */
function requestHash(backend: KeyedBackend, request: GenerateRequest): Hash {
  const served = [...(backend.servedModels?.() ?? [])].sort();
  const messages: (string | number)[] = [];
  for (const message of request.messages)
    messages.push(message.role, message.role === 'system' ? systemDigest(message.content) : message.content.length);
  const head = JSON.stringify([
    KEY_VERSION,
    backend.name,
    [...(backend.models?.() ?? [])].sort(),
    served,
    request.maxTokens,
    request.temperature,
    schemaDigest(request.schema),
    messages,
  ]);
  const hash = createHash('sha256').update(head);
  for (const message of request.messages) if (message.role !== 'system') hash.update('\n').update(message.content);
  return hash;
}

/** Digests of system prompts; a process sees a few (one per language and role), so the bound only guards against a prompt made per request. */
const systemDigests = new Map<string, string>();
const MAX_SYSTEM_DIGESTS = 256;

function systemDigest(content: string): string {
  let digest = systemDigests.get(content);
  if (digest === undefined) {
    if (systemDigests.size >= MAX_SYSTEM_DIGESTS) systemDigests.clear();
    digest = createHash('sha256').update(content).digest('base64');
    systemDigests.set(content, digest);
  }
  return digest;
}

/** Response schemas are built once and reused by every request: their digest is too. */
const schemaDigests = new WeakMap<ResponseSchema, string>();

function schemaDigest(schema: ResponseSchema): string {
  let digest = schemaDigests.get(schema);
  if (digest === undefined) {
    digest = createHash('sha256').update(canonicalJson(schema)).digest('base64');
    schemaDigests.set(schema, digest);
  }
  return digest;
}

/** JSON with object keys sorted at every level, so the order a schema was built in does not change its key. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/**
 * An LlmBackend that answers from `cache` when it can and stores every answer the inner backend gives
 * (rejected ones too: `raiden reverify` judges them again). A cache that fails to read or write is
 * counted and bypassed; it never fails a call the backend could answer.
 */
export class CachedBackend implements LlmBackend {
  readonly name: string;
  /** Draws of requests without one, taken in this process: per request digest, the draw numbers in use or spent. */
  private readonly occurrences = new Map<string, Set<number>>();

  constructor(
    private readonly inner: LlmBackend,
    private readonly cache: ResponseCache,
    private readonly stats: ResponseCacheStats,
  ) {
    this.name = inner.name;
  }

  inFlight(): number {
    return this.inner.inFlight();
  }

  models(): string[] {
    return this.inner.models?.() ?? [];
  }

  servedModels(): string[] {
    return this.inner.servedModels?.() ?? [];
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const hash = requestHash(this.inner, request);
    const { draw, release } = this.takeDraw(request, hash);
    const key = keyOf(hash, draw);
    const stored = await this.cache.get(key).catch(() => {
      this.stats.errors++;
      return undefined;
    });
    if (stored !== undefined) {
      this.stats.hits++;
      this.stats.savedInputTokens +=
        stored.usage.inputTokens + (stored.usage.cacheReadInputTokens ?? 0) + (stored.usage.cacheWriteInputTokens ?? 0);
      this.stats.savedOutputTokens += stored.usage.outputTokens;
      return {
        text: stored.text,
        model: stored.model,
        usage: stored.usage,
        requests: 0,
        ...(stored.backend !== undefined ? { backend: stored.backend } : {}),
        cache: { key, hit: true },
      };
    }
    this.stats.misses++;
    let result: GenerateResult;
    try {
      result = await this.inner.generate(request);
    } catch (error) {
      // Nothing was stored under this draw: the caller's next try of the same request takes it.
      release();
      throw error;
    }
    await this.cache
      .put(key, {
        text: result.text,
        model: result.model,
        usage: result.usage,
        ...(result.backend !== undefined ? { backend: result.backend } : {}),
      })
      .catch(() => {
        this.stats.errors++;
      });
    return { ...result, cache: { key, hit: false } };
  }

  /** The request's own draw, or the lowest occurrence of the request not taken yet in this process. */
  private takeDraw(request: GenerateRequest, hash: Hash): { draw: string; release: () => void } {
    if (request.draw !== undefined) return { draw: slotDraw(request.draw), release: () => {} };
    // The request's digest (of a copy: the key goes on from the same state): one short entry per distinct review request.
    const id = hash.copy().digest('base64');
    let taken = this.occurrences.get(id);
    if (taken === undefined) {
      taken = new Set();
      this.occurrences.set(id, taken);
    }
    let occurrence = 0;
    while (taken.has(occurrence)) occurrence++;
    taken.add(occurrence);
    const set = taken;
    return { draw: `occurrence ${occurrence}`, release: () => set.delete(occurrence) };
  }
}

/** Wraps `backend` with the cache; without a cache the backend is returned as it is. */
export function withResponseCache(backend: LlmBackend, cache: ResponseCache | undefined, stats: ResponseCacheStats): LlmBackend {
  return cache === undefined ? backend : new CachedBackend(backend, cache, stats);
}
