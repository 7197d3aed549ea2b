import type { BackendFactory } from '../core/ports/backend-factory.ts';
import { SglangBackend } from './sglang-backend.ts';

/** What the front door knows about this process that the backend specs do not carry. */
export interface BackendFactoryOptions {
  /** Largest response body read from an OpenAI-compatible server; a larger one is a failed attempt. */
  readonly maxResponseBytes?: number | undefined;
  /** True once the user asked to stop (Ctrl-C): no new request starts and a retry's wait ends at once. */
  readonly stopRequested?: (() => boolean) | undefined;
  /** Prove each Bedrock model usable with one tiny call before it is handed out (the CLI, before planning). */
  readonly preflight?: boolean;
}

/** The one place a backend is built by name. Bedrock's module loads on first use: an SGLang-only run never pays for the AWS SDK. */
export function createBackendFactory(options: BackendFactoryOptions = {}): BackendFactory {
  return async (spec) => {
    if (spec.kind === 'sglang') {
      return SglangBackend.connect({
        endpoints: spec.endpoints,
        model: spec.model,
        apiKey: spec.apiKey,
        requestTimeoutMs: spec.requestTimeoutMs,
        retry: spec.retry,
        maxInFlight: spec.maxInFlight,
        maxResponseBytes: options.maxResponseBytes,
        stopRequested: options.stopRequested,
      });
    }
    const { BedrockBackend } = await import('./bedrock-backend.ts');
    const backend = new BedrockBackend({
      modelId: spec.modelId,
      region: spec.region,
      endpoint: spec.endpoint,
      maxConcurrency: spec.maxConcurrency,
      promptCaching: spec.promptCaching,
      requestTimeoutMs: spec.requestTimeoutMs,
      retry: spec.retry,
      stopRequested: options.stopRequested,
    });
    if (options.preflight === true) await backend.preflight();
    return backend;
  };
}

export const createBackend: BackendFactory = createBackendFactory();
