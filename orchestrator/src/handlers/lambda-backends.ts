/**
 * The backends as the workflow's Lambdas connect them: the fleet's in-service servers with the key from
 * Secrets Manager, and Bedrock in the Lambda's region (or RAIDEN_BEDROCK_ENDPOINT).
 */
import { BATCH_REQUESTS_IN_FLIGHT } from '../core/run/batch-plan.ts';
import type { Prices } from '../core/report/model-prices.ts';
import { BackendUnavailableError } from '../core/ports/llm-backend.ts';
import type { BackendSettings } from '../core/run/run-backends.ts';
import { createBackend } from '../llm/backend-factory.ts';
import { discoverEndpoints } from '../fleet/fleet.ts';
import { awsClients, ENV, fleetServers, requiredEnv } from './handler-env.ts';
import { sglangApiKey } from './sglang-api-key.ts';

/** One HTTP request may take this long; GenerateBatch's stop margin leaves room for the last ones. */
export const REQUEST_TIMEOUT_MS = 120_000;
const TRANSPORT = { requestTimeoutMs: REQUEST_TIMEOUT_MS, retry: { maxRetries: 4, baseDelayMs: 500, maxDelayMs: 10_000 } } as const;

export function lambdaBackendSettings(prices: Prices): BackendSettings {
  const endpoint = process.env[ENV.bedrockEndpoint];
  return {
    create: createBackend,
    prices,
    sglang: {
      ...TRANSPORT,
      maxInFlight: BATCH_REQUESTS_IN_FLIGHT,
      async servers() {
        const { autoScaling, ec2 } = awsClients();
        const fleet = await discoverEndpoints(autoScaling, ec2, requiredEnv(ENV.autoScalingGroup), fleetServers());
        if (fleet.endpoints.length === 0) {
          throw new BackendUnavailableError(
            `the fleet has no instance in service (${fleet.launched} launched); it may have been scaled in by its idle watchdog or by hand`,
          );
        }
        return { endpoints: fleet.endpoints, apiKey: await sglangApiKey() };
      },
    },
    bedrock: { ...TRANSPORT, maxConcurrency: BATCH_REQUESTS_IN_FLIGHT, ...(endpoint ? { endpoint } : {}) },
  };
}
