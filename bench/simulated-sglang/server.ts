import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { EngineModel, type EngineModelOptions, type EngineStats } from './engine-model.ts';
import { fakeSample, roughTokens, type ChatRequestBody, type OutputFlaw } from './role-model.ts';

/** Transport faults (the request fails) and output flaws (the request succeeds with a bad sample). */
export type Fault = 'rate_limit' | 'rate_limit_no_header' | 'server_error' | 'reset' | 'hang' | 'malformed_body' | OutputFlaw;

export interface TestServerOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  readonly model?: string;
  readonly apiKey?: string;
  /** Milliseconds before each chat completion answers. */
  readonly latencyMs?: number;
  /** Chooses a fault for the n-th chat request (1-based); undefined means a good answer. */
  readonly fault?: (requestNumber: number, body: ChatRequestBody) => Fault | undefined;
  /** Models SGLang's slots, timing and prefix cache instead of a fixed latency (benchmarks). */
  readonly engine?: EngineModelOptions;
}

export interface TestServer {
  readonly url: string;
  readonly stats: {
    chatRequests: number;
    modelsRequests: number;
    faults: Record<string, number>;
    maxConcurrent: number;
    missingResponseFormat: number;
    /** Chat requests per requested model name. */
    models: Record<string, number>;
  };
  /** The engine model's counters, when the server runs one. */
  readonly engine?: EngineStats;
  close(): Promise<void>;
}

/** Serves the given faults in order, then good answers. */
export function faultSequence(faults: readonly (Fault | undefined)[]): TestServerOptions['fault'] {
  return (n) => faults[n - 1];
}

/** Injects `fault` on a deterministic pseudo-random `rate` share of requests. */
export function faultRate(rate: number, fault: Fault, seed = 1): TestServerOptions['fault'] {
  return (n) => {
    const x = Math.sin(n * 12.9898 + seed * 78.233) * 43758.5453;
    return x - Math.floor(x) < rate ? fault : undefined;
  };
}

const TRANSPORT_FAULTS: readonly Fault[] = ['server_error', 'reset', 'rate_limit_no_header'];
const OUTPUT_FLAWS: readonly Fault[] = ['ungrounded', 'malformed_content', 'keyword_not_in_answer'];

/**
 * Independent pseudo-random transport faults (500, reset, 429) and invalid outputs (ungrounded keyword,
 * truncated JSON, keyword missing from the answer) at the given rates, reproducible from the seed.
 */
export function mixedFaults(transportRate: number, invalidRate: number, seed = 1): TestServerOptions['fault'] {
  const random = (n: number, salt: number) => {
    const x = Math.sin(n * 12.9898 + seed * 78.233 + salt * 37.719) * 43758.5453;
    return x - Math.floor(x);
  };
  return (n) => {
    if (random(n, 1) < transportRate) return TRANSPORT_FAULTS[n % TRANSPORT_FAULTS.length];
    if (random(n, 2) < invalidRate) return OUTPUT_FLAWS[n % OUTPUT_FLAWS.length];
    return undefined;
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function json(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/** An OpenAI-compatible HTTP server (`/v1/models`, `/v1/chat/completions`) with injectable latency and faults. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const model = options.model ?? 'test-model';
  const stats: TestServer['stats'] = {
    chatRequests: 0,
    modelsRequests: 0,
    faults: {},
    maxConcurrent: 0,
    missingResponseFormat: 0,
    models: {},
  };
  const sockets = new Set<Socket>();
  let concurrent = 0;
  const engine = options.engine ? new EngineModel(options.engine) : undefined;

  const server: Server = createServer(async (request, response) => {
    if (options.apiKey !== undefined && request.headers.authorization !== `Bearer ${options.apiKey}`) {
      json(response, 401, { error: { message: 'invalid api key' } });
      return;
    }
    if (request.method === 'GET' && request.url === '/v1/models') {
      stats.modelsRequests++;
      json(response, 200, { object: 'list', data: [{ id: model, object: 'model', owned_by: 'test' }] });
      return;
    }
    // SGLang's readiness probe: 200 once the model generates (the orchestrator polls it after scale-up).
    if (request.method === 'GET' && request.url === '/health_generate') {
      json(response, 200, {});
      return;
    }
    if (request.method === 'GET' && request.url === '/sim/stats') {
      json(response, 200, { ...stats, engine: engine?.stats });
      return;
    }
    if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
      json(response, 404, { error: { message: `no route ${request.method} ${request.url}` } });
      return;
    }
    const body = JSON.parse(await readBody(request)) as ChatRequestBody;
    const n = ++stats.chatRequests;
    stats.models[body.model ?? ''] = (stats.models[body.model ?? ''] ?? 0) + 1;
    concurrent++;
    stats.maxConcurrent = Math.max(stats.maxConcurrent, concurrent);
    try {
      const schema = body.response_format?.json_schema;
      if (body.response_format?.type !== 'json_schema' || schema?.schema === undefined) {
        stats.missingResponseFormat++;
        json(response, 400, { error: { message: 'this test server requires response_format json_schema' } });
        return;
      }
      const fault = options.fault?.(n, body);
      if (fault !== undefined) stats.faults[fault] = (stats.faults[fault] ?? 0) + 1;
      if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
      const prompt = body.messages?.map((m) => m.content).join('\n') ?? '';
      switch (fault) {
        case 'rate_limit':
          json(response, 429, { error: { message: 'rate limited' } }, { 'retry-after': '1' });
          return;
        case 'rate_limit_no_header':
          json(response, 429, { error: { message: 'rate limited' } });
          return;
        case 'server_error':
          json(response, 500, { error: { message: 'internal error' } });
          return;
        case 'reset':
          request.socket.destroy();
          return;
        case 'hang':
          return;
        case 'malformed_body':
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end('{"id": "chatcmpl-1", "choices": [');
          return;
      }
      if (engine) await engine.serve(prompt, schema.name ?? '');
      const content = fakeSample(body, fault);
      const required = schema.schema.required ?? [];
      if (fault === undefined && !required.every((key) => content.includes(`"${key}"`))) {
        throw new Error(`fake model output misses required fields of ${schema.name}`);
      }
      json(response, 200, {
        id: `chatcmpl-${n}`,
        object: 'chat.completion',
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: roughTokens(prompt),
          completion_tokens: roughTokens(content),
          total_tokens: roughTokens(prompt) + roughTokens(content),
        },
      });
    } finally {
      concurrent--;
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    ...(engine ? { engine: engine.stats } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
