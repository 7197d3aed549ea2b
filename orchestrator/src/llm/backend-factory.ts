import type { BackendFactory } from '../core/ports/backend-factory.ts';
import { SglangBackend } from './sglang-backend.ts';

/** The one place a backend is built by name. Bedrock's module loads on first use: an SGLang-only run never pays for the AWS SDK. */
export const createBackend: BackendFactory = async (spec) => {
  if (spec.kind === 'sglang') {
    return SglangBackend.connect({
      endpoints: spec.endpoints,
      model: spec.model,
      apiKey: spec.apiKey,
      requestTimeoutMs: spec.requestTimeoutMs,
      retry: spec.retry,
      maxInFlight: spec.maxInFlight,
    });
  }
  const { BedrockBackend } = await import('./bedrock-backend.ts');
  return new BedrockBackend({
    modelId: spec.modelId,
    region: spec.region,
    endpoint: spec.endpoint,
    maxConcurrency: spec.maxConcurrency,
    promptCaching: spec.promptCaching,
    requestTimeoutMs: spec.requestTimeoutMs,
    retry: spec.retry,
  });
};
