import {
  BackendUnavailableError,
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../core/ports/llm-backend.ts';
import type { ResponseSchema } from '../core/ports/llm-backend.ts';
import { HttpTransportError, sendHttp, type HttpResponse } from './http-client.ts';
import { InFlightLimit } from './in-flight-limit.ts';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, isRetryableStatus, parseRetryAfterMs, sleep, type RetryPolicy } from './retry-policy.ts';

export const DEFAULT_SGLANG_ENDPOINT = 'http://localhost:30000';

export interface SglangBackendOptions {
  /** Base URLs of OpenAI-compatible servers, e.g. the two ports of a 4+4 layout. */
  readonly endpoints: readonly string[];
  /** Model to request everywhere; when absent each endpoint's own served model is used. */
  readonly model?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly requestTimeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Requests in flight over all endpoints; unbounded when absent (the caller's workers bound it). */
  readonly maxInFlight?: number;
  /** Waits out a retry's delay; tests pass one that records the delay asked for instead of waiting it out. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Why an endpoint cannot be used, so that each caller can advise in its own terms (the CLI names its flags). */
export type SglangUnavailableReason = 'unreachable' | 'api_key_rejected' | 'no_model_listed' | 'not_openai_compatible' | 'bad_url';

/**
 * An endpoint that cannot be used. The backend runs in the CLI and in Lambda handlers alike, so the message
 * says only what happened and `reason` lets the caller add its own advice. It is not named `cause`: that is
 * Error's own field, for a wrapped error.
 */
export class SglangUnavailableError extends BackendUnavailableError {
  constructor(
    message: string,
    readonly reason: SglangUnavailableReason,
  ) {
    super(message);
  }
}

interface Endpoint {
  readonly url: string;
  readonly chatUrl: URL;
  readonly model: string;
  outstanding: number;
}

/** `http://host:30000/v1/` and `http://host:30000` name the same server. */
export function normalizeEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SglangUnavailableError(`endpoint ${JSON.stringify(url)} is not a URL`, 'bad_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SglangUnavailableError(`endpoint ${url} must use http or https`, 'bad_url');
  }
  return parsed.toString().replace(/\/+$/u, '').replace(/\/v1$/u, '');
}

/**
 * OpenAI-compatible backend for SGLang (or vLLM, or any server with /v1/chat/completions). Balances by
 * least outstanding requests, so a slow server or port gets less work instead of a growing queue.
 */
export class SglangBackend implements LlmBackend {
  readonly name = 'sglang';
  private readonly endpoints: Endpoint[];
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private rotation = 0;
  private readonly limit: InFlightLimit;

  private constructor(endpoints: Endpoint[], options: SglangBackendOptions) {
    this.endpoints = endpoints;
    this.headers = { 'content-type': 'application/json', ...authHeaders(options.apiKey) };
    this.timeoutMs = options.requestTimeoutMs ?? 300_000;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.sleep = options.sleep ?? sleep;
    this.limit = new InFlightLimit(options.maxInFlight ?? Number.POSITIVE_INFINITY);
  }

  /** Checks every endpoint answers `GET /v1/models` before any work is planned, and learns its model. */
  static async connect(options: SglangBackendOptions): Promise<SglangBackend> {
    const urls = [...new Set(options.endpoints.map(normalizeEndpoint))];
    const endpoints = await Promise.all(
      urls.map(async (url) => ({
        url,
        chatUrl: new URL(`${url}/v1/chat/completions`),
        model: options.model ?? (await servedModel(url, options.apiKey)),
        outstanding: 0,
      })),
    );
    if (options.model !== undefined) await Promise.all(urls.map((url) => servedModel(url, options.apiKey)));
    return new SglangBackend(endpoints, options);
  }

  models(): string[] {
    return [...new Set(this.endpoints.map((endpoint) => endpoint.model))];
  }

  inFlight(): number {
    return this.endpoints.reduce((sum, endpoint) => sum + endpoint.outstanding, 0);
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    let lastError = '';
    let requests = 0;
    for (let retry = 0; retry <= this.retry.maxRetries; retry++) {
      await this.limit.acquire();
      const endpoint = this.pickEndpoint();
      endpoint.outstanding++;
      let outcome: Attempt;
      requests++;
      try {
        outcome = await this.post(endpoint, request);
      } finally {
        endpoint.outstanding--;
        this.limit.release();
      }
      if (outcome.kind === 'ok') return { ...outcome.result, requests };
      if (outcome.kind === 'fatal') throw outcome.error;
      lastError = `${endpoint.url}: ${outcome.error}`;
      if (outcome.kind === 'final' || retry === this.retry.maxRetries) break;
      await this.sleep(outcome.retryAfterMs ?? backoffDelayMs(retry, this.retry));
    }
    throw new TransportError(lastError, requests);
  }

  private pickEndpoint(): Endpoint {
    this.rotation = (this.rotation + 1) % this.endpoints.length;
    let best = this.endpoints[this.rotation] as Endpoint;
    for (const endpoint of this.endpoints) if (endpoint.outstanding < best.outstanding) best = endpoint;
    return best;
  }

  private async post(endpoint: Endpoint, request: GenerateRequest): Promise<Attempt> {
    const body = `{"model":${JSON.stringify(endpoint.model)},"messages":${messagesJson(request.messages)},"response_format":${responseFormatJson(request.schema)},"max_tokens":${request.maxTokens},"temperature":${request.temperature}}`;
    let response: HttpResponse;
    try {
      response = await sendHttp(endpoint.chatUrl, 'POST', this.headers, body, this.timeoutMs);
    } catch (error) {
      return { kind: 'retry', error: describeTransportError(error) };
    }
    const text = response.body;
    if (response.status === 401 || response.status === 403) return { kind: 'fatal', error: apiKeyRejected(endpoint.url, response.status) };
    if (response.status < 200 || response.status >= 300) {
      const error = `HTTP ${response.status} ${text.slice(0, 200)}`;
      if (!isRetryableStatus(response.status)) return { kind: 'final', error };
      return { kind: 'retry', error, retryAfterMs: parseRetryAfterMs(response.retryAfter) };
    }
    try {
      const completion = JSON.parse(text) as ChatCompletion;
      const content = completion.choices?.[0]?.message?.content;
      return {
        kind: 'ok',
        result: {
          text: typeof content === 'string' ? content : '',
          model: completion.model ?? endpoint.model,
          usage: { inputTokens: completion.usage?.prompt_tokens ?? 0, outputTokens: completion.usage?.completion_tokens ?? 0 },
        },
      };
    } catch {
      return { kind: 'retry', error: `response body is not JSON: ${text.slice(0, 120)}` };
    }
  }
}

type Attempt =
  | { kind: 'ok'; result: Omit<GenerateResult, 'requests'> }
  | { kind: 'retry'; error: string; retryAfterMs?: number | undefined }
  | { kind: 'final'; error: string }
  | { kind: 'fatal'; error: SglangUnavailableError };

interface ChatCompletion {
  model?: string;
  choices?: { message?: { content?: unknown } }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

/** The schema is the same for every request of a kind: serialise it once, not once per request. */
const responseFormats = new WeakMap<ResponseSchema, string>();

function responseFormatJson(schema: ResponseSchema): string {
  let json = responseFormats.get(schema);
  if (json === undefined) {
    json = JSON.stringify({ type: 'json_schema', json_schema: { name: schema.name, schema: schema.schema } });
    responseFormats.set(schema, json);
  }
  return json;
}

/** Instructions are the same few strings in every request: serialise each once, not once per request. */
const systemJson = new Map<string, string>();

function messagesJson(messages: GenerateRequest['messages']): string {
  const parts = messages.map((message) => {
    if (message.role !== 'system') return JSON.stringify(message);
    let json = systemJson.get(message.content);
    if (json === undefined) {
      if (systemJson.size >= 64) systemJson.clear();
      json = JSON.stringify(message);
      systemJson.set(message.content, json);
    }
    return json;
  });
  return `[${parts.join(',')}]`;
}

function authHeaders(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

function apiKeyRejected(url: string, status: number): SglangUnavailableError {
  return new SglangUnavailableError(`${url} rejected the API key (HTTP ${status})`, 'api_key_rejected');
}

function describeTransportError(error: unknown): string {
  return error instanceof HttpTransportError ? `${error.code}: ${error.message}` : (error as Error).message;
}

async function servedModel(url: string, apiKey: string | undefined): Promise<string> {
  let response: HttpResponse;
  try {
    response = await sendHttp(new URL(`${url}/v1/models`), 'GET', authHeaders(apiKey), undefined, 10_000);
  } catch (error) {
    throw new SglangUnavailableError(
      `cannot reach ${url} (${error instanceof HttpTransportError ? error.code : (error as Error).message})`,
      'unreachable',
    );
  }
  if (response.status === 401 || response.status === 403) throw apiKeyRejected(url, response.status);
  if (response.status !== 200)
    throw new SglangUnavailableError(`${url}/v1/models answered HTTP ${response.status}`, 'not_openai_compatible');
  let id: unknown;
  try {
    id = (JSON.parse(response.body) as { data?: { id?: unknown }[] }).data?.[0]?.id;
  } catch {
    id = undefined;
  }
  if (typeof id !== 'string') throw new SglangUnavailableError(`${url}/v1/models lists no model`, 'no_model_listed');
  return id;
}
