/** Connects a prepared run's backends as `raiden generate` does, from whatever factory a test hands in. */
import { DEFAULT_PRICES } from '../../orchestrator/src/core/report/model-prices.ts';
import type { BackendFactory, TransportSettings } from '../../orchestrator/src/core/ports/backend-factory.ts';
import type { ResponseCache } from '../../orchestrator/src/core/ports/response-cache.ts';
import type { PreparedRun } from '../../orchestrator/src/core/run/prepare-run.ts';
import { connectRunBackends, rolesFor, type RunBackends } from '../../orchestrator/src/core/run/run-backends.ts';

export interface TestBackendOptions {
  readonly create: BackendFactory;
  readonly cache?: ResponseCache | undefined;
  /** Requests in flight to SGLang; 4 by default. */
  readonly maxInFlight?: number;
  /** No retries and short timeouts by default: scripted backends answer at once. */
  readonly transport?: TransportSettings;
  /** Connect the quality gates' models too (as a generating step does); true by default. */
  readonly gates?: boolean;
}

const INSTANT: TransportSettings = { requestTimeoutMs: 1000, retry: { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 1 } };

export function connectTestBackends(prepared: PreparedRun, options: TestBackendOptions): Promise<RunBackends> {
  const { spec, profileIds, assignment } = prepared.plan;
  const transport = options.transport ?? INSTANT;
  return connectRunBackends({
    spec,
    roles: rolesFor({ kind: 'local', profileIds }, prepared.strategy, assignment),
    gates: options.gates ?? true,
    settings: {
      create: options.create,
      prices: DEFAULT_PRICES,
      cache: options.cache,
      sglang: { ...transport, servers: async () => ({ endpoints: spec.endpoints }), maxInFlight: options.maxInFlight ?? 4 },
      bedrock: { ...transport, maxConcurrency: 4 },
    },
  });
}
