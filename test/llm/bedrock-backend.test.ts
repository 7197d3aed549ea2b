import {
  BedrockRuntimeClient,
  ConverseCommand,
  ThrottlingException,
  ValidationException,
  InternalServerException,
  AccessDeniedException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { BedrockBackend, classifyBedrockError } from '../../orchestrator/src/llm/bedrock-backend.ts';
import { BackendUnavailableError, TransportError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { TEST_CREDENTIALS } from '../../bench/simulated-bedrock/server.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const request = SBK_REQUEST;
const fastRetry = { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 };
const sample = {
  question: 'Where do you bake?',
  reasoning: 'I am asked where.',
  answer: 'In Tallinn, of course.',
  keywords: ['Tallinn'],
  question_type: 'where',
  difficulty: 'easy',
};
const toolResponse = (input: unknown, usage = { inputTokens: 100, outputTokens: 40, totalTokens: 140 }) => ({
  output: {
    message: { role: 'assistant' as const, content: [{ toolUse: { toolUseId: 't1', name: 'raiden_sbk_sample', input: input as never } }] },
  },
  stopReason: 'tool_use' as const,
  usage,
  metrics: { latencyMs: 5 },
  $metadata: {},
});
const throttle = () => new ThrottlingException({ message: 'Too many requests', $metadata: { httpStatusCode: 429 } });

describe('Bedrock backend with a mocked Converse', () => {
  const bedrock = mockClient(BedrockRuntimeClient);
  beforeEach(() => bedrock.reset());
  const backend = (options: Partial<ConstructorParameters<typeof BedrockBackend>[0]> = {}) =>
    new BedrockBackend({
      modelId: MODEL,
      client: new BedrockRuntimeClient({ region: 'us-east-1', credentials: TEST_CREDENTIALS }),
      retry: fastRetry,
      promptCaching: true,
      ...options,
    });

  it('sends the schema as one tool forced by toolChoice, with cachePoints after the system prompt and the profile', async () => {
    bedrock
      .on(ConverseCommand)
      .resolves(toolResponse(sample, { inputTokens: 20, outputTokens: 40, totalTokens: 1160, cacheReadInputTokens: 1100 } as never));
    const result = await backend().generate(request);
    expect(JSON.parse(result.text)).toEqual(sample);
    expect(result.usage).toEqual({ inputTokens: 20, outputTokens: 40, cacheReadInputTokens: 1100 });
    expect(result.model).toBe(MODEL);
    const input = bedrock.commandCalls(ConverseCommand)[0]?.args[0].input;
    expect(input?.modelId).toBe(MODEL);
    expect(input?.toolConfig?.tools?.[0]?.toolSpec?.inputSchema?.json).toEqual(request.schema.schema);
    expect(input?.toolConfig?.toolChoice).toEqual({ tool: { name: 'raiden_sbk_sample' } });
    expect(input?.system).toEqual([{ text: 'instructions' }, { cachePoint: { type: 'default' } }]);
    const content = input?.messages?.[0]?.content ?? [];
    expect(content[0]?.text?.endsWith('</character_profile>')).toBe(true);
    expect(content[1]).toEqual({ cachePoint: { type: 'default' } });
    expect(content[2]?.text).toContain('Task: write SBK sample');
  });

  it('sends no cachePoint to a model without prompt caching', async () => {
    bedrock.on(ConverseCommand).resolves(toolResponse(sample));
    await new BedrockBackend({
      modelId: 'anthropic.claude-3-5-sonnet-20241022-v2:0',
      client: new BedrockRuntimeClient({ region: 'us-east-1', credentials: TEST_CREDENTIALS }),
      retry: fastRetry,
      promptCaching: false,
    }).generate(request);
    expect(JSON.stringify(bedrock.commandCalls(ConverseCommand)[0]?.args[0].input)).not.toContain('cachePoint');
  });

  it('rides out a throttling storm: retries with backoff, cuts the concurrency limit once for a burst of throttles', async () => {
    let calls = 0;
    bedrock.on(ConverseCommand).callsFake(() => {
      calls++;
      if (calls <= 8) throw throttle();
      return toolResponse(sample);
    });
    const b = backend({ initialConcurrency: 8, maxConcurrency: 16 });
    const results = await Promise.all(Array.from({ length: 8 }, () => b.generate(request)));
    expect(results.map((r) => r.requests)).toEqual(Array(8).fill(2));
    // Eight simultaneous throttles are one congestion signal: one cut, not eight.
    expect(b.limiterStats()).toMatchObject({ throttles: 8, cuts: 1 });
    expect(b.limiterStats().limit).toBeLessThan(8);
  });

  it('cuts again when a retry sent after the cut is throttled too', async () => {
    bedrock.on(ConverseCommand).rejectsOnce(throttle()).rejectsOnce(throttle()).rejectsOnce(throttle()).resolves(toolResponse(sample));
    const b = backend({ initialConcurrency: 8, maxConcurrency: 16 });
    expect((await b.generate(request)).requests).toBe(4);
    // 8 -> 6.4 -> 5.1 -> 4.1 (x0.8 each), then the success adds 1/limit.
    expect(b.limiterStats()).toMatchObject({ throttles: 3, cuts: 3, limit: 4 });
  });

  it('gives up on a slot after the retries with a TransportError that counts the requests', async () => {
    bedrock.on(ConverseCommand).rejects(new InternalServerException({ message: 'boom', $metadata: { httpStatusCode: 500 } }));
    const error = await backend()
      .generate(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).requests).toBe(4);
    expect((error as Error).message).toMatch(/InternalServerException \(HTTP 500\): boom/);
  });

  it('does not retry a ValidationException about the request, but stops the run on a bad model id or missing access', async () => {
    bedrock
      .on(ConverseCommand)
      .rejects(new ValidationException({ message: 'Input is too long for requested model.', $metadata: { httpStatusCode: 400 } }));
    const tooLong = await backend()
      .generate(request)
      .catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(TransportError);
    expect(bedrock.commandCalls(ConverseCommand)).toHaveLength(1);

    bedrock.reset();
    bedrock
      .on(ConverseCommand)
      .rejects(new ValidationException({ message: 'The provided model identifier is invalid.', $metadata: { httpStatusCode: 400 } }));
    await expect(backend().generate(request)).rejects.toThrow(/model identifier is invalid.*check --bedrock-model/u);

    bedrock.reset();
    bedrock.on(ConverseCommand).rejects(new AccessDeniedException({ message: 'no access', $metadata: { httpStatusCode: 403 } }));
    await expect(backend().generate(request)).rejects.toBeInstanceOf(BackendUnavailableError);
  });

  it('passes malformed tool input and prose answers through as text for the verifier to reject', async () => {
    bedrock
      .on(ConverseCommand)
      .resolvesOnce(toolResponse({ question: 42 }))
      .resolvesOnce(toolResponse('{"question": "as a string"}'))
      .resolvesOnce({
        output: { message: { role: 'assistant', content: [{ text: 'Sorry, no tool today.' }] } },
        stopReason: 'end_turn',
        usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 },
        metrics: { latencyMs: 1 },
        $metadata: {},
      });
    const b = backend();
    expect((await b.generate(request)).text).toBe('{"question":42}');
    expect((await b.generate(request)).text).toBe('{"question": "as a string"}');
    expect((await b.generate(request)).text).toBe('Sorry, no tool today.');
  });

  it('opens the circuit breaker when the service keeps failing, instead of retrying forever', async () => {
    bedrock.on(ConverseCommand).rejects(throttle());
    const b = backend({ breaker: { failureThreshold: 5, openAfterMs: 0 }, retry: { maxRetries: 100, baseDelayMs: 1, maxDelayMs: 2 } });
    await expect(b.generate(request)).rejects.toThrow(/failed 5 requests in a row.*run the same command again later/u);
    expect(bedrock.commandCalls(ConverseCommand)).toHaveLength(5);
    await expect(b.generate(request)).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(bedrock.commandCalls(ConverseCommand)).toHaveLength(5);
  });

  it('classifies errors by name and status', () => {
    expect(classifyBedrockError(throttle())).toBe('throttle');
    expect(classifyBedrockError({ name: 'ServiceUnavailableException', $metadata: { httpStatusCode: 503 } })).toBe('throttle');
    expect(classifyBedrockError({ name: 'ModelTimeoutException', $metadata: { httpStatusCode: 408 } })).toBe('retry');
    expect(classifyBedrockError({ name: 'TimeoutError' })).toBe('retry');
    expect(classifyBedrockError({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } })).toBe('fatal');
  });
});
