import {
  BackendUnavailableError,
  TransportError,
  type GenerateRequest,
  type GenerateResult,
  type LlmBackend,
} from '../core/ports/llm-backend.ts';
import type { ResponseSchema } from '../core/ports/llm-backend.ts';
import { HttpBodyError, HttpTransportError, sendHttp, type HttpResponse } from './http-client.ts';
import { InFlightLimit } from './in-flight-limit.ts';
import { displayUrl, redactSecrets, urlSecrets } from './redact.ts';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseRetryAfterMs,
  pauseUnlessStopped,
  sleep,
  StopRequestedError,
  type RetryPolicy,
} from './retry-policy.ts';
import { modelName, ServerDataError, tokenCount } from './server-numbers.ts';

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
  /** Largest response body read; a larger one is a failed attempt. */
  readonly maxResponseBytes?: number | undefined;
  /** True once the user asked to stop: no new request starts and a retry's wait ends at once. */
  readonly stopRequested?: (() => boolean) | undefined;
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
  /** The URL as it may be shown: its user info (credentials) replaced. */
  readonly url: string;
  readonly chatUrl: URL;
  readonly model: string;
  /** What the server says it serves beyond `model`, as one string; empty when it says nothing more. */
  readonly served: string;
  outstanding: number;
}

/** `http://host:30000/v1/` and `http://host:30000` name the same server. */
export function normalizeEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SglangUnavailableError(`endpoint ${JSON.stringify(redactSecrets(url))} is not a URL`, 'bad_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SglangUnavailableError(`endpoint ${displayUrl(parsed)} must use http or https`, 'bad_url');
  }
  return withoutApiPath(parsed.toString());
}

function withoutApiPath(url: string): string {
  return url.replace(/\/+$/u, '').replace(/\/v1$/u, '');
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
  /** The API key and every endpoint's URL credentials, in the forms a server may echo them in. */
  private readonly secrets: readonly (string | undefined)[];
  private readonly maxResponseBytes: number | undefined;
  private readonly stopRequested: (() => boolean) | undefined;

  private constructor(endpoints: Endpoint[], options: SglangBackendOptions) {
    this.endpoints = endpoints;
    this.headers = { 'content-type': 'application/json', ...authHeaders(options.apiKey) };
    this.timeoutMs = options.requestTimeoutMs ?? 300_000;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.sleep = options.sleep ?? sleep;
    this.limit = new InFlightLimit(options.maxInFlight ?? Number.POSITIVE_INFINITY);
    this.secrets = [options.apiKey, ...options.endpoints.flatMap(urlSecrets)];
    this.maxResponseBytes = options.maxResponseBytes;
    this.stopRequested = options.stopRequested;
  }

  /** Checks every endpoint answers `GET /v1/models` before any work is planned, and learns its model. */
  static async connect(options: SglangBackendOptions): Promise<SglangBackend> {
    const urls = [...new Set(options.endpoints.map(normalizeEndpoint))];
    const endpoints = await Promise.all(
      urls.map(async (url) => {
        const listed = await servedModel(url, options);
        const model = options.model ?? listed.id;
        return {
          url: withoutApiPath(displayUrl(new URL(url))),
          chatUrl: new URL(`${url}/v1/chat/completions`),
          model,
          served: servedIdentity(model, listed, listed.ownedBy === 'sglang' ? await modelInfo(url, options) : {}),
          outstanding: 0,
        };
      }),
    );
    return new SglangBackend(endpoints, options);
  }

  models(): string[] {
    return [...new Set(this.endpoints.map((endpoint) => endpoint.model))];
  }

  servedModels(): string[] {
    return [...new Set(this.endpoints.map((endpoint) => endpoint.served).filter((served) => served !== ''))];
  }

  inFlight(): number {
    return this.endpoints.reduce((sum, endpoint) => sum + endpoint.outstanding, 0);
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    let lastError = '';
    let requests = 0;
    for (let retry = 0; retry <= this.retry.maxRetries; retry++) {
      if (this.stopRequested?.()) throw new StopRequestedError();
      await this.limit.acquire();
      if (this.stopRequested?.()) {
        this.limit.release();
        throw new StopRequestedError();
      }
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
      lastError = redactSecrets(`${endpoint.url}: ${outcome.error}`, this.secrets);
      if (outcome.kind === 'final' || retry === this.retry.maxRetries) break;
      await pauseUnlessStopped(outcome.retryAfterMs ?? backoffDelayMs(retry, this.retry), this.stopRequested, this.sleep);
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
      response = await sendHttp(endpoint.chatUrl, 'POST', this.headers, body, this.timeoutMs, { maxBodyBytes: this.maxResponseBytes });
    } catch (error) {
      if (error instanceof HttpBodyError) return { kind: 'final', error: error.message };
      return { kind: 'retry', error: describeTransportError(error) };
    }
    const text = response.body;
    if (response.status === 401 || response.status === 403) return { kind: 'fatal', error: apiKeyRejected(endpoint.url, response.status) };
    if (response.status < 200 || response.status >= 300) {
      const error = `HTTP ${response.status} ${text.slice(0, 200)}`;
      if (!isRetryableStatus(response.status)) return { kind: 'final', error };
      return { kind: 'retry', error, retryAfterMs: parseRetryAfterMs(response.retryAfter) };
    }
    let completion: ChatCompletion | null;
    try {
      completion = JSON.parse(text) as ChatCompletion | null;
    } catch {
      return { kind: 'retry', error: `response body is not JSON: ${text.slice(0, 120)}` };
    }
    const content = completion?.choices?.[0]?.message?.content;
    try {
      return {
        kind: 'ok',
        result: {
          text: typeof content === 'string' ? content : '',
          model: modelName(completion?.model, endpoint.model),
          usage: {
            inputTokens: tokenCount(completion?.usage?.prompt_tokens, 'usage.prompt_tokens'),
            outputTokens: tokenCount(completion?.usage?.completion_tokens, 'usage.completion_tokens'),
          },
        },
      };
    } catch (error) {
      if (error instanceof ServerDataError) return { kind: 'final', error: error.message };
      throw error;
    }
  }
}

type Attempt =
  | { kind: 'ok'; result: Omit<GenerateResult, 'requests'> }
  | { kind: 'retry'; error: string; retryAfterMs?: number | undefined }
  | { kind: 'final'; error: string }
  | { kind: 'fatal'; error: SglangUnavailableError };

/** What a server sent; nothing in it is trusted until checked. */
interface ChatCompletion {
  model?: unknown;
  choices?: { message?: { content?: unknown } }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
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

/**
 * What `GET /v1/models` lists first: its id, the path of the weights it was loaded from (`root`, in SGLang's
 * and vLLM's model cards) and who serves it (`owned_by`: "sglang" for SGLang, whose ModelCard in
 * https://github.com/sgl-project/sglang/blob/main/python/sglang/srt/entrypoints/openai/protocol.py sets it).
 */
interface ListedModel {
  readonly id: string;
  readonly root?: string | undefined;
  readonly ownedBy?: string | undefined;
}

/** What a server says of itself that may tell two servers of one model name apart; longer strings are not names. */
const MAX_IDENTITY_CHARS = 1024;

function identityText(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_IDENTITY_CHARS ? value : undefined;
}

/**
 * SGLang's `GET /get_model_info`: the path the weights were loaded from and their version
 * (https://docs.sglang.ai/basic_usage/native_api.html). Asked only of a server that says it is SGLang; one
 * that does not answer it is no error.
 */
async function modelInfo(url: string, options: SglangBackendOptions): Promise<{ modelPath?: string; weightVersion?: string }> {
  try {
    const response = await sendHttp(new URL(`${url}/get_model_info`), 'GET', authHeaders(options.apiKey), undefined, 10_000, {
      maxBodyBytes: 64 * 1024,
    });
    if (response.status !== 200) return {};
    const info = JSON.parse(response.body) as { model_path?: unknown; weight_version?: unknown } | null;
    const modelPath = identityText(info?.model_path);
    const weightVersion = identityText(info?.weight_version);
    return { ...(modelPath !== undefined ? { modelPath } : {}), ...(weightVersion !== undefined ? { weightVersion } : {}) };
  } catch {
    return {};
  }
}

/** What the server serves beyond the model name requested, as one string; empty when that name says it all. */
function servedIdentity(model: string, listed: ListedModel, info: { modelPath?: string; weightVersion?: string }): string {
  const served = {
    ...(listed.id !== model ? { id: listed.id } : {}),
    ...(listed.root !== undefined && listed.root !== listed.id ? { root: listed.root } : {}),
    ...(info.modelPath !== undefined ? { model_path: info.modelPath } : {}),
    ...(info.weightVersion !== undefined ? { weight_version: info.weightVersion } : {}),
  };
  return Object.keys(served).length === 0 ? '' : JSON.stringify(served);
}

async function servedModel(url: string, options: SglangBackendOptions): Promise<ListedModel> {
  const modelsUrl = new URL(`${url}/v1/models`);
  const shown = withoutApiPath(displayUrl(new URL(url)));
  const limits = { maxBodyBytes: options.maxResponseBytes };
  let response: HttpResponse;
  try {
    response = await sendHttp(modelsUrl, 'GET', authHeaders(options.apiKey), undefined, 10_000, limits);
  } catch (error) {
    if (error instanceof HttpBodyError) throw new SglangUnavailableError(`${shown}/v1/models: ${error.message}`, 'not_openai_compatible');
    const detail =
      error instanceof HttpTransportError ? error.code : redactSecrets((error as Error).message, [options.apiKey, ...urlSecrets(url)]);
    throw new SglangUnavailableError(`cannot reach ${shown} (${detail})`, 'unreachable');
  }
  if (response.status === 401 || response.status === 403) throw apiKeyRejected(shown, response.status);
  if (response.status !== 200)
    throw new SglangUnavailableError(`${shown}/v1/models answered HTTP ${response.status}`, 'not_openai_compatible');
  let first: { id?: unknown; root?: unknown; owned_by?: unknown } | undefined;
  try {
    first = (JSON.parse(response.body) as { data?: { id?: unknown; root?: unknown; owned_by?: unknown }[] } | null)?.data?.[0];
  } catch {
    first = undefined;
  }
  const id = first?.id;
  if (typeof id !== 'string' || modelName(id, '') === '')
    throw new SglangUnavailableError(`${shown}/v1/models lists no model`, 'no_model_listed');
  return { id, root: identityText(first?.root), ownedBy: identityText(first?.owned_by) };
}
