/**
 * A local run the way `raiden generate` makes one with the response cache wired in: prepare, claim the run
 * directory, connect the real SGLang backend (HTTP) through connectRunBackends with the cache in its
 * BackendSettings, every phase, finish. The CLI's own wiring of --cache-dir lives in generate-command.ts.
 */
import { readFileSync } from 'node:fs';
import { claimPreparedRun, prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import type { FinishedRun } from '../../orchestrator/src/core/run/run-pipeline.ts';
import { parseRunSpec, type RunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { createBackendFactory } from '../../orchestrator/src/llm/backend-factory.ts';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { generateAndFinish } from '../../bench/support/local-run.ts';
import { connectTestBackends } from '../support/test-backends.ts';

export interface CachedRunOptions {
  readonly profiles: string;
  readonly endpoint: string;
  readonly out: string;
  /** No cache when absent (--no-cache). */
  readonly cacheDir?: string;
  readonly spec?: Partial<Record<keyof RunSpec, unknown>>;
}

export async function generateThroughCache(options: CachedRunOptions): Promise<FinishedRun & { cacheHits: number; requests: number }> {
  const spec = parseRunSpec({ profiles: options.profiles, endpoints: [options.endpoint], ...options.spec });
  const prepared = prepareRun(spec, { bytes: readFileSync(options.profiles), location: options.profiles }, { startedAt: new Date() });
  const store = await LocalRunStore.open(options.out);
  try {
    await claimPreparedRun(store, prepared);
    await store.prepareAppends();
    const cache = options.cacheDir === undefined ? undefined : await LocalResponseCache.open(options.cacheDir);
    const backends = await connectTestBackends(prepared, {
      create: createBackendFactory(),
      cache,
      maxInFlight: spec.concurrency,
      transport: { requestTimeoutMs: 10_000, retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 5 } },
    });
    const { report, dataset, counters } = await generateAndFinish({ prepared, store, backends, concurrency: spec.concurrency });
    return { report, dataset, cacheHits: counters.cacheHits, requests: counters.requests };
  } finally {
    store.close();
  }
}
