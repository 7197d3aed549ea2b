import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { AdaptiveLimiter, type LimiterStats } from './adaptive-limiter.ts';
import { converseBody, readConverseOutput } from './bedrock-converse.ts';
import { CircuitBreaker, DEFAULT_CIRCUIT_BREAKER, type CircuitBreakerOptions } from './circuit-breaker.ts';
import { preflightBedrock } from './bedrock-preflight.ts';
import { bedrockRegion, DEFAULT_BEDROCK_MAX_CONCURRENCY } from './bedrock-settings.ts';
import {
  BackendUnavailableError,
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../core/ports/llm-backend.ts';
import { redactSecrets } from './redact.ts';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, pauseUnlessStopped, StopRequestedError, type RetryPolicy } from './retry-policy.ts';
import { ServerDataError } from './server-numbers.ts';

export interface BedrockBackendOptions {
  /** A model id or inference profile id, e.g. `us.anthropic.claude-sonnet-4-5-20250929-v1:0`. */
  readonly modelId: string;
  /** Region; defaults to AWS_REGION / AWS_DEFAULT_REGION, then us-east-1. */
  readonly region?: string | undefined;
  /** Another endpoint URL (a VPC endpoint, or a test server). */
  readonly endpoint?: string | undefined;
  /** A ready client (tests inject one); otherwise one is built from region and endpoint. */
  readonly client?: BedrockRuntimeClient;
  /** Ceiling of requests in flight to this model; the adaptive limit never goes above it. */
  readonly maxConcurrency?: number;
  /** Requests in flight at the start, before the limiter has learnt anything. */
  readonly initialConcurrency?: number;
  readonly retry?: RetryPolicy;
  readonly requestTimeoutMs?: number;
  readonly breaker?: CircuitBreakerOptions;
  /**
   * HTTP attempts the AWS SDK itself makes per request. Default 1: retries belong to this backend, so the
   * limiter sees every throttle at once (SDK retries hid them and held 67% of a throttle limit, not 76-81%).
   */
  readonly sdkMaxAttempts?: number;
  /** Send cachePoints (the caller knows from the price table whether the model caches prompts); default false. */
  readonly promptCaching?: boolean;
  /** True once the user asked to stop: no new request starts and a retry's wait ends at once. */
  readonly stopRequested?: (() => boolean) | undefined;
}

type Failure = 'throttle' | 'retry' | 'final' | 'fatal';

/** Errors that mean the quota or the service is saturated: back off and lower the concurrency. */
const THROTTLES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'ServiceQuotaExceededException',
  'ServiceUnavailableException',
  'ModelNotReadyException',
]);
/** Errors that no retry can fix and that will hit every request the same way: stop the run. */
const FATAL = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'ResourceNotFoundException',
  'CredentialsProviderError',
  'IncompleteSignatureException',
]);
const TRANSIENT = new Set([
  'InternalServerException',
  'ModelTimeoutException',
  'ModelErrorException',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
]);

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $retryable?: unknown;
}

export function classifyBedrockError(error: unknown): Failure {
  const err = (error ?? {}) as SdkError;
  const name = err.name ?? '';
  const status = err.$metadata?.httpStatusCode;
  if (THROTTLES.has(name) || status === 429 || status === 503) return 'throttle';
  if (FATAL.has(name) || status === 401 || status === 403) return 'fatal';
  // A model id this account cannot call on demand fails the same way for every request.
  if (name === 'ValidationException' && /model identifier|inference profile|on-demand throughput|model id/iu.test(err.message ?? ''))
    return 'fatal';
  if (TRANSIENT.has(name) || (status !== undefined && status >= 500) || err.code !== undefined || status === undefined) return 'retry';
  return 'final';
}

function describe(error: unknown): string {
  const err = (error ?? {}) as SdkError;
  const status = err.$metadata?.httpStatusCode;
  // The message may echo what a server (a Bedrock-compatible endpoint) was sent, headers included.
  return redactSecrets(
    `${err.name ?? 'Error'}${status !== undefined ? ` (HTTP ${status})` : ''}: ${(err.message ?? String(error)).slice(0, 200)}`,
  );
}

function fatalHint(error: unknown): string {
  const name = ((error ?? {}) as SdkError).name ?? '';
  if (name === 'ResourceNotFoundException' || name === 'ValidationException') {
    return 'check --bedrock-model (a model id or an inference profile id such as us.anthropic.claude-sonnet-4-5-20250929-v1:0), --bedrock-region, and that model access is granted in the Bedrock console';
  }
  return 'check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and that they allow bedrock:InvokeModel on this model';
}

/**
 * Amazon Bedrock through the Converse API: the sample schema as one forced tool, prompt caching after the
 * shared prefix, an AIMD concurrency limiter that finds the account's quota by itself, and a circuit
 * breaker that ends the run (keeping every accepted sample) when Bedrock keeps failing.
 */
export class BedrockBackend implements LlmBackend {
  readonly name = 'bedrock';
  readonly modelId: string;
  readonly promptCaching: boolean;
  private readonly client: BedrockRuntimeClient;
  private readonly limiter: AdaptiveLimiter;
  private readonly breaker: CircuitBreaker;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly stopRequested: (() => boolean) | undefined;
  private readonly region: string;
  private readonly endpoint: string | undefined;

  constructor(options: BedrockBackendOptions) {
    this.modelId = options.modelId;
    this.promptCaching = options.promptCaching ?? false;
    const region = bedrockRegion(options.region);
    this.region = region;
    this.endpoint = options.endpoint;
    this.client =
      options.client ??
      new BedrockRuntimeClient({
        region,
        maxAttempts: options.sdkMaxAttempts ?? 1,
        ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      });
    const max = options.maxConcurrency ?? DEFAULT_BEDROCK_MAX_CONCURRENCY;
    this.limiter = new AdaptiveLimiter({ initial: Math.min(options.initialConcurrency ?? 4, max), max });
    this.breaker = new CircuitBreaker(`Bedrock ${options.modelId}`, options.breaker ?? DEFAULT_CIRCUIT_BREAKER);
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.timeoutMs = options.requestTimeoutMs ?? 300_000;
    this.stopRequested = options.stopRequested;
  }

  /**
   * Proves the run can use this model before any work is planned: credentials, region, reachability and
   * model access, with one Converse call of one output token. Throws BedrockUnavailableError with the reason.
   */
  async preflight(): Promise<void> {
    await preflightBedrock(this.client, { modelId: this.modelId, region: this.region, endpoint: this.endpoint });
  }

  models(): string[] {
    return [this.modelId];
  }

  inFlight(): number {
    return this.limiter.stats().inFlight;
  }

  limiterStats(): LimiterStats {
    return this.limiter.stats();
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const input = { modelId: this.modelId, ...converseBody(request, this.promptCaching) };
    let requests = 0;
    let lastError = '';
    for (let retry = 0; retry <= this.retry.maxRetries; retry++) {
      this.breaker.check();
      if (this.stopRequested?.()) throw new StopRequestedError();
      const permit = await this.limiter.acquire();
      if (this.stopRequested?.()) {
        this.limiter.release();
        throw new StopRequestedError();
      }
      let response;
      try {
        response = await this.client.send(new ConverseCommand(input), { abortSignal: AbortSignal.timeout(this.timeoutMs) });
      } catch (error) {
        this.limiter.release();
        requests += ((error ?? {}) as SdkError).$metadata?.attempts ?? 1;
        const failure = classifyBedrockError(error);
        lastError = describe(error);
        if (failure === 'fatal') throw new BackendUnavailableError(`Bedrock ${this.modelId}: ${lastError}: ${fatalHint(error)}`);
        if (failure === 'throttle') this.limiter.onThrottle(permit);
        this.breaker.onFailure(lastError);
        this.breaker.check();
        if (failure === 'final' || retry === this.retry.maxRetries) break;
        await pauseUnlessStopped(backoffDelayMs(retry, this.retry), this.stopRequested);
        continue;
      }
      this.limiter.release();
      const attempts = response.$metadata.attempts ?? 1;
      requests += attempts;
      // The SDK retried under the hood: the service pushed back, which counts as a throttle for the limit.
      if (attempts > 1) this.limiter.onThrottle(permit);
      else this.limiter.onSuccess();
      this.breaker.onSuccess();
      try {
        const answer = readConverseOutput(response);
        return { text: answer.text, model: this.modelId, usage: answer.usage, requests };
      } catch (error) {
        if (!(error instanceof ServerDataError)) throw error;
        lastError = error.message;
        break;
      }
    }
    throw new TransportError(`Bedrock ${this.modelId}: ${lastError}`, requests);
  }
}
