/** The backends of a run on this machine: --endpoint servers and Bedrock with the flags' transport settings. */
import type { BackendFactory } from '../core/ports/backend-factory.ts';
import { BackendUnavailableError } from '../core/ports/llm-backend.ts';
import type { ResponseCache } from '../core/ports/response-cache.ts';
import type { Prices } from '../core/report/model-prices.ts';
import type { PreparedRun } from '../core/run/prepare-run.ts';
import { connectRunBackends, rolesFor, type BackendSettings, type RunBackends } from '../core/run/run-backends.ts';
import type { RunSpec } from '../core/run/run-spec.ts';
import { cliHint } from './backend-hints.ts';
import { bedrockHint } from './bedrock-hints.ts';
import { printable } from './terminal-text.ts';
import { UsageError } from './usage-error.ts';

export function localBackendSettings(
  spec: RunSpec,
  apiKey: string | undefined,
  prices: Prices,
  create: BackendFactory,
  cache: ResponseCache | undefined,
): BackendSettings {
  const transport = {
    requestTimeoutMs: spec.requestTimeoutSeconds * 1000,
    retry: { maxRetries: spec.maxRetries, baseDelayMs: 500, maxDelayMs: 20_000 },
  };
  return {
    create,
    prices,
    cache,
    sglang: { ...transport, servers: async () => ({ endpoints: spec.endpoints, apiKey }), maxInFlight: spec.concurrency },
    bedrock: { ...transport, region: spec.bedrockRegion, endpoint: spec.bedrockEndpoint, maxConcurrency: spec.bedrockMaxConcurrency },
  };
}

/**
 * Connects every backend the run needs before any work is written; one that cannot be used is a usage
 * error with the CLI's advice (and `advice`, what the command adds).
 */
export async function connectLocalBackends(prepared: PreparedRun, settings: BackendSettings, advice = ''): Promise<RunBackends> {
  const { plan, strategy } = prepared;
  try {
    return await connectRunBackends({
      spec: plan.spec,
      roles: rolesFor({ kind: 'local', profileIds: plan.profileIds }, strategy, plan.assignment),
      gates: true,
      settings,
    });
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error;
    const hint = cliHint(error) ?? bedrockHint(error, plan.spec);
    throw new UsageError(printable(`${error.message}${hint === undefined ? '' : `: ${hint}`}${advice}`));
  }
}
