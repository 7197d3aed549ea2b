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

/**
 * `user:password` for HTTP Basic authentication at every endpoint whose URL carries none: credentials in an
 * --endpoint URL show in the process list (ps) and shell history, an environment variable does not.
 */
export const ENDPOINT_AUTH_ENV = 'RAIDEN_ENDPOINT_AUTH';

/** The endpoints with the user info of RAIDEN_ENDPOINT_AUTH added to each URL that has none (an unparseable URL is left for the backend to refuse). */
export function withEndpointAuth(endpoints: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const auth = env[ENDPOINT_AUTH_ENV];
  if (auth === undefined || auth === '') return [...endpoints];
  const colon = auth.indexOf(':');
  if (colon < 0) throw new UsageError(`${ENDPOINT_AUTH_ENV} is not user:password: write the user name, a colon, then the password`);
  return endpoints.map((endpoint) => {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return endpoint;
    }
    if (url.username !== '' || url.password !== '') return endpoint;
    url.username = encodeURIComponent(auth.slice(0, colon));
    url.password = encodeURIComponent(auth.slice(colon + 1));
    return url.toString();
  });
}

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
    sglang: { ...transport, servers: async () => ({ endpoints: withEndpointAuth(spec.endpoints), apiKey }), maxInFlight: spec.concurrency },
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
