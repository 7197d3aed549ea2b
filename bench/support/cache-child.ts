/**
 * The response cache scenario's child process: one local run through the real pipeline (prepare, the real
 * SGLang backend over HTTP behind connectRunBackends with or without the cache, every phase, finish), or
 * the real `raiden reverify --no-fill` of a run; prints its resource use as JSON on the last line.
 */
import { readFileSync } from 'node:fs';
import { main } from '../../orchestrator/src/cli/main.ts';
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import { claimPreparedRun, prepareRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { connectRunBackends, rolesFor } from '../../orchestrator/src/core/run/run-backends.ts';
import { parseRunSpec } from '../../orchestrator/src/core/run/run-spec.ts';
import { createBackendFactory } from '../../orchestrator/src/llm/backend-factory.ts';
import { LocalResponseCache } from '../../orchestrator/src/store/local-response-cache.ts';
import { LocalRunStore } from '../../orchestrator/src/store/local-run-store.ts';
import { generateAndFinish } from './local-run.ts';

export type CacheChildConfig =
  | { mode: 'generate'; profiles: string; endpoint: string; out: string; cacheDir?: string; concurrency: number }
  | { mode: 'reverify'; out: string; cacheDir: string };

export interface CacheChildResult {
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly requests: number;
  readonly cacheHits: number;
  readonly accepted: number;
  /** report.json's cache.usd_saved (generate). */
  readonly usdSaved?: number | null;
  readonly exitCode?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as CacheChildConfig;
const cpuBefore = process.cpuUsage();
const started = performance.now();
let result: Omit<CacheChildResult, 'cpuMs' | 'wallMs'>;
if (config.mode === 'reverify') {
  const quiet = { isTTY: false, write: () => true };
  const exitCode = await main(['reverify', '--run', config.out, '--cache-dir', config.cacheDir, '--no-fill'], {
    stdout: quiet,
    stderr: quiet,
  });
  result = { requests: 0, cacheHits: 0, accepted: 0, exitCode };
} else {
  const spec = parseRunSpec({ profiles: config.profiles, endpoints: [config.endpoint], includeCm: true, concurrency: config.concurrency });
  const prepared = prepareRun(spec, { bytes: readFileSync(config.profiles), location: config.profiles }, { startedAt: new Date() });
  const store = await LocalRunStore.open(config.out);
  await claimPreparedRun(store, prepared);
  await store.prepareAppends();
  const transport = { requestTimeoutMs: 30_000, retry: { maxRetries: 2, baseDelayMs: 10, maxDelayMs: 100 } };
  const backends = await connectRunBackends({
    spec,
    roles: rolesFor({ kind: 'local', profileIds: prepared.plan.profileIds }, prepared.strategy, prepared.plan.assignment),
    gates: true,
    settings: {
      create: createBackendFactory(),
      prices: DEFAULT_PRICES,
      cache: config.cacheDir === undefined ? undefined : await LocalResponseCache.open(config.cacheDir),
      sglang: { ...transport, servers: async () => ({ endpoints: spec.endpoints }), maxInFlight: spec.concurrency },
      bedrock: { ...transport, maxConcurrency: 4 },
    },
  });
  const { report, counters } = await generateAndFinish({
    prepared,
    store,
    backends,
    concurrency: spec.concurrency,
  });
  store.close();
  result = { requests: counters.requests, cacheHits: counters.cacheHits, accepted: counters.accepted, usdSaved: report.cache.usd_saved };
}
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(`\n${JSON.stringify({ ...result, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - started })}\n`);
