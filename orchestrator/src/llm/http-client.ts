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

// Keep-alive agents without a socket cap: the caller bounds requests in flight. node:http allocates far
// less per request than fetch (no WHATWG Request/Response/stream objects), which matters at 1,000+ req/s.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/** Request options of a URL, worked out once per URL instead of once per request. */
const targets = new WeakMap<URL, { hostname: string; port: string; path: string }>();

function targetOf(url: URL): { hostname: string; port: string; path: string } {
  let target = targets.get(url);
  if (target === undefined) {
    target = { hostname: url.hostname.replace(/^\[|\]$/gu, ''), port: url.port, path: `${url.pathname}${url.search}` };
    targets.set(url, target);
  }
  return target;
}

/** One HTTP request with a whole-exchange timeout; resolves with any status, rejects only on transport failure. */
export function sendHttp(
  url: URL,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<HttpResponse> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(
      {
        ...targetOf(url),
        method,
        agent: secure ? agents.https : agents.http,
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          clearTimeout(timer);
          const retryAfter = response.headers['retry-after'];
          resolve({
            status: response.statusCode ?? 0,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            body: Buffer.concat(chunks).toString('utf8'),
          });
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
    request.on('error', fail);
    request.end(body);
  });
}
