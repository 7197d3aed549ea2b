/**
 * How core asks for a backend without knowing how one is built: the front doors pass llm/'s factory,
 * tests pass scripted backends. Core decides which backends a run needs and with which settings.
 */
import type { LlmBackend } from './llm-backend.ts';

export interface TransportSettings {
  readonly requestTimeoutMs: number;
  /** Transport retries per call (connection errors, timeouts, 429, 5xx), with exponential backoff. */
  readonly retry: { readonly maxRetries: number; readonly baseDelayMs: number; readonly maxDelayMs: number };
}

export interface SglangBackendSpec extends TransportSettings {
  readonly kind: 'sglang';
  readonly endpoints: readonly string[];
  /** Model to request everywhere; each endpoint's own served model when absent. */
  readonly model?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly maxInFlight: number;
}

export interface BedrockBackendSpec extends TransportSettings {
  readonly kind: 'bedrock';
  readonly modelId: string;
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly maxConcurrency: number;
  /** Whether to send a Converse cachePoint (a model without prompt caching rejects it). */
  readonly promptCaching: boolean;
}

export type BackendSpec = SglangBackendSpec | BedrockBackendSpec;

/** Builds (and for SGLang, connects and checks) a backend; throws BackendUnavailableError when it cannot be used. */
export type BackendFactory = (spec: BackendSpec) => Promise<LlmBackend>;
