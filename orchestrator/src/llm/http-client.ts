import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface HttpResponse {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: string;
}

/** The request did not produce a response: refused, reset, timed out. `code` is the socket error code. */
export class HttpTransportError extends Error {
  override readonly name = 'HttpTransportError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The server answered with a body this client refuses: larger than the cap, or not UTF-8. Retrying the same request would not help. */
export class HttpBodyError extends Error {
  override readonly name = 'HttpBodyError';
  constructor(
    message: string,
    readonly reason: 'too_large' | 'not_utf8',
  ) {
    super(message);
  }
}

/**
 * Largest response body read by default. A sample's answer is a few KiB and max_tokens keeps it under 1 MiB;
 * a server that streams more is broken, and reading on would take the heap with it (V8 strings end at 512 MiB).
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface HttpLimits {
  /** Bytes of response body read before the request is abandoned; DEFAULT_MAX_RESPONSE_BYTES when absent. */
  readonly maxBodyBytes?: number | undefined;
}

// Keep-alive agents without a socket cap: the caller bounds requests in flight. node:http allocates far
// less per request than fetch (no WHATWG Request/Response/stream objects), which matters at 1,000+ req/s.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

interface Target {
  readonly hostname: string;
  readonly port: string;
  readonly path: string;
  /** User info of the URL, sent as Basic authentication (node:http ignores it in a URL's parts otherwise). */
  readonly auth?: string;
}

/** Request options of a URL, worked out once per URL instead of once per request. */
const targets = new WeakMap<URL, Target>();

function targetOf(url: URL): Target {
  let target = targets.get(url);
  if (target === undefined) {
    const auth =
      url.username === '' && url.password === '' ? {} : { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` };
    target = { hostname: url.hostname.replace(/^\[|\]$/gu, ''), port: url.port, path: `${url.pathname}${url.search}`, ...auth };
    targets.set(url, target);
  }
  return target;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * One HTTP request with a whole-exchange timeout; resolves with any status, rejects on transport failure
 * (HttpTransportError) or on a body over the size cap or not UTF-8 (HttpBodyError). The cap is enforced
 * while the body streams in, so an endless answer costs at most the cap in memory.
 */
export function sendHttp(
  url: URL,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  limits: HttpLimits = {},
): Promise<HttpResponse> {
  const secure = url.protocol === 'https:';
  const maxBytes = limits.maxBodyBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(
      {
        ...targetOf(url),
        method,
        agent: secure ? agents.https : agents.http,
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const tooLarge = () =>
          refuse(
            new HttpBodyError(`HTTP ${status} response body is larger than the ${formatBytes(maxBytes)} cap on one response`, 'too_large'),
          );
        if (Number(response.headers['content-length'] ?? 0) > maxBytes) return tooLarge();
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxBytes) tooLarge();
          else chunks.push(chunk);
        });
        response.on('end', () => {
          clearTimeout(timer);
          let text: string;
          try {
            text = utf8.decode(Buffer.concat(chunks));
          } catch {
            reject(new HttpBodyError(`HTTP ${status} response body is not valid UTF-8`, 'not_utf8'));
            return;
          }
          const retryAfter = response.headers['retry-after'];
          resolve({ status, retryAfter: typeof retryAfter === 'string' ? retryAfter : null, body: text });
        });
        response.on('error', fail);
        response.on('aborted', () => fail(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      },
    );
    const timer = setTimeout(
      () => request.destroy(Object.assign(new Error(`no response within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    function fail(error: NodeJS.ErrnoException): void {
      clearTimeout(timer);
      reject(new HttpTransportError(error.message, error.code ?? 'EIO'));
    }
    /** Rejects first, then drops the connection: the socket errors that follow find the promise settled. */
    function refuse(error: HttpBodyError): void {
      clearTimeout(timer);
      reject(error);
      request.destroy();
    }
    request.on('error', fail);
    request.end(body);
  });
}

function formatBytes(bytes: number): string {
  const [value, unit] = bytes >= 1024 * 1024 ? [bytes / (1024 * 1024), 'MiB'] : bytes >= 1024 ? [bytes / 1024, 'KiB'] : [bytes, 'bytes'];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}
