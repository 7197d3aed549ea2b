import { PrefixCache, prefixBlockKeys } from './prefix-cache.ts';

/** What matters about an SGLang server for throughput: decode slots, prefill and decode cost, the prefix cache. */
export interface EngineModelOptions {
  /** Requests decoded concurrently; more wait in a FIFO queue. */
  readonly slots: number;
  /** Milliseconds per prompt character not found in the prefix cache. */
  readonly prefillMsPerChar: number;
  /** Milliseconds per output token. */
  readonly decodeMsPerToken: number;
  /** Output tokens per request by response schema name (SBK and CM samples differ in length). */
  readonly outputTokens: Readonly<Record<string, number>>;
  /** Sigma of the lognormal spread of decode time (mean preserved). */
  readonly sigma: number;
  /** Prefix cache capacity in characters. */
  readonly cacheChars: number;
  readonly seed?: number;
}

export interface EngineStats {
  readonly slots: number;
  served: number;
  busySlotMs: number;
  promptChars: number;
  cachedChars: number;
  /** Characters an unbounded cache would have served: the shareable part of the prompt text. */
  idealCachedChars: number;
  /** [arrival, start, end] per request, in ms since the engine started. */
  readonly timeline: [number, number, number][];
}

/** Deterministic standard normal numbers (Box-Muller over mulberry32). */
function normalSource(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * Queues requests for a fixed number of slots. Service time = prefill of the uncached prompt part + output
 * tokens x per-token time x lognormal(sigma), so a cached prefix is cheap and some requests are slow.
 */
export class EngineModel {
  readonly stats: EngineStats;
  private readonly cache: PrefixCache;
  private readonly ideal = new PrefixCache(Number.POSITIVE_INFINITY);
  private readonly waiting: (() => void)[] = [];
  private busy = 0;
  private readonly normal: () => number;
  private readonly started = performance.now();

  constructor(private readonly options: EngineModelOptions) {
    this.cache = new PrefixCache(Math.max(1, Math.floor(options.cacheChars / 64)));
    this.normal = normalSource(options.seed ?? 1);
    this.stats = { slots: options.slots, served: 0, busySlotMs: 0, promptChars: 0, cachedChars: 0, idealCachedChars: 0, timeline: [] };
  }

  /** Resolves when the request has been "decoded": after queueing for a slot and its service time. */
  async serve(prompt: string, schemaName: string): Promise<void> {
    const arrival = performance.now() - this.started;
    if (this.busy >= this.options.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy++;
    const start = performance.now() - this.started;
    try {
      const keys = prefixBlockKeys(prompt);
      const cached = this.cache.lookupAndInsert(keys);
      this.stats.idealCachedChars += this.ideal.lookupAndInsert(keys);
      this.stats.cachedChars += cached;
      this.stats.promptChars += prompt.length;
      const spread = Math.exp(this.options.sigma * this.normal() - (this.options.sigma * this.options.sigma) / 2);
      const decode = (this.options.outputTokens[schemaName] ?? 300) * this.options.decodeMsPerToken * spread;
      const serviceMs = (prompt.length - cached) * this.options.prefillMsPerChar + decode;
      await new Promise((resolve) => setTimeout(resolve, serviceMs));
      const end = performance.now() - this.started;
      this.stats.busySlotMs += end - start;
      this.stats.served++;
      this.stats.timeline.push([arrival, start, end]);
    } finally {
      this.busy--;
      this.waiting.shift()?.();
    }
  }
}
