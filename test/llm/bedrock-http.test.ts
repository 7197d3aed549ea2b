import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { BedrockBackend } from '../../orchestrator/src/llm/bedrock-backend.ts';
import { startBedrockTestServer, TEST_CREDENTIALS, type BedrockTestServer } from '../../bench/simulated-bedrock/server.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const request = SBK_REQUEST;
const fastRetry = { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 };

describe('Bedrock backend against a Bedrock-compatible HTTP/2 server (real SDK parsing and retries)', () => {
  let server: BedrockTestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const connect = (url: string, options: Partial<ConstructorParameters<typeof BedrockBackend>[0]> = {}) =>
    new BedrockBackend({
      modelId: MODEL,
      client: new BedrockRuntimeClient({ region: 'us-east-1', endpoint: url, credentials: TEST_CREDENTIALS, maxAttempts: 2 }),
      retry: fastRetry,
      promptCaching: true,
      ...options,
    });

  it('parses the tool-use response, usage and prompt-cache reads from the wire', async () => {
    server = await startBedrockTestServer();
    const backend = connect(server.url);
    const first = await backend.generate(request);
    const second = await backend.generate(request);
    expect(JSON.parse(first.text)).toMatchObject({ keywords: [expect.any(String)], question_type: 'what' });
    expect(first.usage.cacheWriteInputTokens).toBeGreaterThan(0);
    expect(second.usage.cacheReadInputTokens).toBeGreaterThan(0);
    expect(server.stats).toMatchObject({ requests: 2, unforcedToolChoice: 0, byModel: { [MODEL]: 2 } });
  });

  it("lets the SDK's own retry absorb one throttle and counts both HTTP requests", async () => {
    server = await startBedrockTestServer({ fault: (n) => (n === 1 ? 'throttle' : undefined) });
    const backend = connect(server.url);
    const result = await backend.generate(request);
    expect(result.requests).toBe(2);
    expect(backend.limiterStats().throttles).toBe(1);
  });

  it('retries 503 and 500 from the server until an answer comes', async () => {
    server = await startBedrockTestServer({ fault: (n) => (['unavailable', 'internal', 'unavailable', 'internal'] as const)[n - 1] });
    const result = await connect(server.url).generate(request);
    expect(result.requests).toBe(5);
    expect(server.stats.succeeded).toBe(1);
  });

  it('turns AccessDeniedException into BackendUnavailableError naming the fix', async () => {
    server = await startBedrockTestServer({ fault: () => 'access_denied' });
    await expect(connect(server.url).generate(request)).rejects.toThrow(/AccessDeniedException.*bedrock:InvokeModel/u);
  });
});
