import { createHash } from 'node:crypto';
import { createServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fakeSample, roughTokens } from '../simulated-sglang/role-model.ts';

/**
 * A Bedrock Runtime stand-in that speaks what the real SDK speaks: HTTP/2 cleartext (the client's default
 * handler), `POST /model/{modelId}/converse` in restJson, errors as `x-amzn-errortype` plus a JSON message.
 * It answers sample tools with the simulated role model, judge tools with `judge`, answer tools with
 * `answer`, and simulates prompt caching per cachePoint prefix.
 */
export type BedrockFault =
  'throttle' | 'unavailable' | 'internal' | 'validation' | 'access_denied' | 'malformed_tool_input' | 'no_tool' | 'ungrounded';

export interface ConverseWireRequest {
  system?: { text?: string; cachePoint?: unknown }[];
  messages?: { role: string; content: { text?: string; cachePoint?: unknown }[] }[];
  toolConfig?: {
    tools?: { toolSpec?: { name?: string; inputSchema?: { json?: { required?: string[] } } } }[];
    toolChoice?: { tool?: { name?: string } };
  };
  inferenceConfig?: { maxTokens?: number; temperature?: number };
}

export interface BedrockTestServerOptions {
  readonly latencyMs?: number;
  /** Spread of the latency: each answer takes latencyMs x uniform(1 - spread, 1 + spread). */
  readonly latencySpread?: number;
  /** Fault for the n-th Converse request (1-based). */
  readonly fault?: (n: number, modelId: string, body: ConverseWireRequest) => BedrockFault | undefined;
  /** Token bucket per server: more than `ratePerSecond` sustained (after `burst`) gets ThrottlingException. */
  readonly rateLimit?: { readonly ratePerSecond: number; readonly burst: number };
  /** Judge verdict for a candidate sample (parsed from the prompt); default 8. */
  readonly judge?: (modelId: string, candidate: Record<string, unknown>) => { score: number; reason: string };
  /** In-character answer for a gate; default: the whole profile and conversation (knows everything). */
  readonly answer?: (modelId: string, prompt: string) => string;
}

export interface BedrockTestServer {
  readonly url: string;
  readonly stats: {
    requests: number;
    succeeded: number;
    throttled: number;
    faults: Record<string, number>;
    byModel: Record<string, number>;
    byTool: Record<string, number>;
    maxConcurrent: number;
    unforcedToolChoice: number;
    cachePoints: number;
    cacheReadTokens: number;
    firstSuccessAt?: number;
    lastSuccessAt?: number;
    /** Date.now() of every answered request, for rate measurements. */
    successTimes: number[];
  };
  close(): Promise<void>;
}

const SAMPLE_TOOLS = new Set(['raiden_sbk_sample', 'raiden_cm_sample']);

function flatten(body: ConverseWireRequest): { system: string; user: string } {
  const text = (blocks: { text?: string }[] | undefined) => (blocks ?? []).map((block) => block.text ?? '').join('');
  return { system: text(body.system), user: (body.messages ?? []).map((message) => text(message.content)).join('\n') };
}

/** Texts up to each cachePoint, in order: what Bedrock would cache. */
function cachePrefixes(body: ConverseWireRequest): string[] {
  const prefixes: string[] = [];
  let text = '';
  const walk = (blocks: { text?: string; cachePoint?: unknown }[] | undefined) => {
    for (const block of blocks ?? []) {
      if (block.cachePoint !== undefined) prefixes.push(text);
      else text += block.text ?? '';
    }
  };
  walk(body.system);
  for (const message of body.messages ?? []) walk(message.content);
  return prefixes;
}

function send(response: Http2ServerResponse, status: number, body: unknown, errorType?: string): void {
  response.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
  response.end(JSON.stringify(body));
}

const ERRORS: Partial<Record<BedrockFault, [number, string, string]>> = {
  throttle: [429, 'ThrottlingException', 'Too many requests, please wait before trying again.'],
  unavailable: [503, 'ServiceUnavailableException', 'The service is temporarily unable to handle the request.'],
  internal: [500, 'InternalServerException', 'An internal server error occurred.'],
  validation: [400, 'ValidationException', 'The provided request is not valid.'],
  access_denied: [403, 'AccessDeniedException', "You don't have access to the model with the specified model ID."],
};

export async function startBedrockTestServer(options: BedrockTestServerOptions = {}): Promise<BedrockTestServer> {
  const stats: BedrockTestServer['stats'] = {
    requests: 0,
    succeeded: 0,
    throttled: 0,
    faults: {},
    byModel: {},
    byTool: {},
    maxConcurrent: 0,
    unforcedToolChoice: 0,
    cachePoints: 0,
    cacheReadTokens: 0,
    successTimes: [],
  };
  const cached = new Set<string>();
  const sessions = new Set<Http2Session>();
  let concurrent = 0;
  let tokens = options.rateLimit?.burst ?? 0;
  let refilledAt = Date.now();

  const takeToken = (): boolean => {
    const limit = options.rateLimit;
    if (limit === undefined) return true;
    const now = Date.now();
    tokens = Math.min(limit.burst, tokens + ((now - refilledAt) / 1000) * limit.ratePerSecond);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const handle = async (request: Http2ServerRequest, response: Http2ServerResponse) => {
    const match = /^\/model\/([^/]+)\/converse$/u.exec(request.url);
    if (request.method !== 'POST' || match === null) {
      send(response, 404, { message: `no route ${request.method} ${request.url}` }, 'UnknownOperationException');
      return;
    }
    const modelId = decodeURIComponent(match[1] ?? '');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ConverseWireRequest;
    const n = ++stats.requests;
    stats.byModel[modelId] = (stats.byModel[modelId] ?? 0) + 1;
    if (!takeToken()) {
      stats.throttled++;
      send(response, 429, { message: 'Too many requests, please wait before trying again.' }, 'ThrottlingException');
      return;
    }
    concurrent++;
    stats.maxConcurrent = Math.max(stats.maxConcurrent, concurrent);
    try {
      if (options.latencyMs) {
        const spread = options.latencySpread ?? 0;
        await new Promise((resolve) => setTimeout(resolve, (options.latencyMs ?? 0) * (1 - spread + 2 * spread * Math.random())));
      }
      const fault = options.fault?.(n, modelId, body);
      if (fault !== undefined) stats.faults[fault] = (stats.faults[fault] ?? 0) + 1;
      const error = fault !== undefined ? ERRORS[fault] : undefined;
      if (error !== undefined) {
        if (fault === 'throttle') stats.throttled++;
        send(response, error[0], { message: error[2] }, error[1]);
        return;
      }
      const tool = body.toolConfig?.tools?.[0]?.toolSpec?.name ?? '';
      stats.byTool[tool] = (stats.byTool[tool] ?? 0) + 1;
      if (body.toolConfig?.toolChoice?.tool?.name !== tool) stats.unforcedToolChoice++;
      const { system, user } = flatten(body);
      let input: unknown;
      if (SAMPLE_TOOLS.has(tool)) {
        input = JSON.parse(
          fakeSample(
            {
              messages: [
                { role: 'system', content: system },
                { role: 'user', content: user },
              ],
            },
            fault === 'ungrounded' ? 'ungrounded' : undefined,
          ),
        );
      } else if (tool === 'raiden_judge_verdict') {
        const candidate = JSON.parse(/<candidate_sample>\n([\s\S]*?)\n<\/candidate_sample>/u.exec(user)?.[1] ?? '{}') as Record<
          string,
          unknown
        >;
        input = options.judge?.(modelId, candidate) ?? { score: 8, reason: 'Grounded, in character, specific keywords.' };
      } else if (tool === 'raiden_in_character_answer') {
        input = { answer: options.answer?.(modelId, user) ?? user };
      } else {
        input = {};
      }
      if (fault === 'malformed_tool_input') input = { question: 42, keywords: 'not-a-list' };
      const content =
        fault === 'no_tool'
          ? [{ text: 'I would rather answer in prose.' }]
          : [{ toolUse: { toolUseId: `tooluse_${n}`, name: tool, input } }];

      let cacheRead = 0;
      let cacheWrite = 0;
      for (const prefix of cachePrefixes(body)) {
        stats.cachePoints++;
        const key = createHash('sha256').update(`${modelId}\n${prefix}`).digest('hex');
        if (cached.has(key)) cacheRead = roughTokens(prefix);
        else {
          cached.add(key);
          cacheWrite = roughTokens(prefix) - cacheRead;
        }
      }
      stats.cacheReadTokens += cacheRead;
      const inputTokens = roughTokens(system + user) - cacheRead - cacheWrite;
      const outputTokens = roughTokens(JSON.stringify(input));
      stats.succeeded++;
      stats.firstSuccessAt ??= Date.now();
      stats.lastSuccessAt = Date.now();
      stats.successTimes.push(stats.lastSuccessAt);
      send(response, 200, {
        output: { message: { role: 'assistant', content } },
        stopReason: fault === 'no_tool' ? 'end_turn' : 'tool_use',
        usage: {
          inputTokens,
          outputTokens,
          totalTokens: inputTokens + outputTokens + cacheRead + cacheWrite,
          ...(cacheRead > 0 ? { cacheReadInputTokens: cacheRead } : {}),
          ...(cacheWrite > 0 ? { cacheWriteInputTokens: cacheWrite } : {}),
        },
        metrics: { latencyMs: options.latencyMs ?? 0 },
      });
    } finally {
      concurrent--;
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => send(response, 500, { message: String(error) }, 'InternalServerException'));
  });
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Dummy credentials for the SDK's signer: the test server checks no signature. */
export const TEST_CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
