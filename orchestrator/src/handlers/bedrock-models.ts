/**
 * Bedrock as the workflow's Lambdas use it: GenerateBatch (writing samples, judging candidates) and
 * Finalize (evaluating iterative output).
 */
import { BATCH_REQUESTS_IN_FLIGHT } from '../core/batch-plan.ts';
import { BedrockBackend } from '../llm/bedrock-backend.ts';
import { ENV } from './handler-env.ts';

/** One HTTP request may take this long; GenerateBatch's stop margin leaves room for the last ones. */
export const REQUEST_TIMEOUT_MS = 120_000;
export const BACKEND_RETRY = { maxRetries: 4, baseDelayMs: 500, maxDelayMs: 10_000 } as const;

/** A Bedrock model with BATCH_REQUESTS_IN_FLIGHT as its concurrency ceiling; RAIDEN_BEDROCK_ENDPOINT overrides the endpoint. */
export function bedrockModel(modelId: string): BedrockBackend {
  const endpoint = process.env[ENV.bedrockEndpoint];
  return new BedrockBackend({ modelId, maxConcurrency: BATCH_REQUESTS_IN_FLIGHT, requestTimeoutMs: REQUEST_TIMEOUT_MS, retry: BACKEND_RETRY, ...(endpoint ? { endpoint } : {}) });
}
