import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { BackendUnavailableError, TransportError } from '../../orchestrator/src/core/ports/llm-backend.ts';
import { BedrockBackend } from '../../orchestrator/src/llm/bedrock-backend.ts';
import { BedrockUnavailableError } from '../../orchestrator/src/llm/bedrock-unavailable.ts';
import { TEST_CREDENTIALS } from '../../bench/simulated-bedrock/server.ts';
import { SBK_REQUEST } from '../support/generate-request.ts';

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const bedrock = mockClient(BedrockRuntimeClient);
beforeEach(() => bedrock.reset());

const backend = (options: Partial<ConstructorParameters<typeof BedrockBackend>[0]> = {}) =>
  new BedrockBackend({
    modelId: MODEL,
    region: 'us-east-1',
    client: new BedrockRuntimeClient({ region: 'us-east-1', credentials: TEST_CREDENTIALS }),
    retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });

async function preflightFailure(options: Partial<ConstructorParameters<typeof BedrockBackend>[0]> = {}): Promise<BedrockUnavailableError> {
  try {
    await backend(options).preflight();
  } catch (error) {
    expect(error).toBeInstanceOf(BedrockUnavailableError);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    return error as BedrockUnavailableError;
  }
  throw new Error('expected the preflight to fail');
}

const credentialsMissing = () =>
  Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });

describe('Bedrock preflight: one call of one output token before anything is planned', () => {
  it('passes on an answer, and on a throttle (access works, the quota is busy)', async () => {
    bedrock
      .on(ConverseCommand)
      .resolvesOnce({ output: { message: { role: 'assistant', content: [{ text: 'OK' }] } }, $metadata: {} } as never);
    await backend().preflight();
    const input = bedrock.commandCalls(ConverseCommand)[0]?.args[0].input;
    expect(input?.modelId).toBe(MODEL);
    expect(input?.inferenceConfig?.maxTokens).toBe(1);
    bedrock.on(ConverseCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: { httpStatusCode: 429 } }));
    await backend().preflight();
  });

  it.each([
    ['credentials', credentialsMissing(), /no AWS credentials found to call Bedrock model .* in us-east-1/u],
    [
      'access_denied',
      new AccessDeniedException({
        message: "You don't have access to the model with the specified model ID.",
        $metadata: { httpStatusCode: 403 },
      }),
      /refused access \(AccessDeniedException/u,
    ],
    [
      'model_not_found',
      new ValidationException({ message: 'The provided model identifier is invalid.', $metadata: { httpStatusCode: 400 } }),
      /Bedrock model us\.anthropic.* in us-east-1 cannot be called \(ValidationException: The provided model identifier is invalid\.\)/u,
    ],
    [
      'unreachable',
      Object.assign(new Error('getaddrinfo ENOTFOUND bedrock-runtime.us-east-1.amazonaws.com'), { code: 'ENOTFOUND' }),
      /cannot reach Bedrock in us-east-1 \(ENOTFOUND/u,
    ],
  ] as const)('says %s, with the service message', async (reason, error, message) => {
    bedrock.on(ConverseCommand).rejects(error);
    const failure = await preflightFailure();
    expect(failure.reason).toBe(reason);
    expect(failure.modelId).toBe(MODEL);
    expect(failure.message).toMatch(message);
  });

  it('refuses a region that is not a region name without calling anything', async () => {
    const failure = await preflightFailure({ region: 'us east 1' });
    expect(failure.reason).toBe('region');
    expect(failure.message).toBe('"us east 1" is not an AWS region name (such as us-east-1)');
    expect(bedrock.commandCalls(ConverseCommand)).toHaveLength(0);
  });
});

describe('Bedrock answers are checked and messages carry no credentials', () => {
  it('refuses a token count that is not one, naming the field', async () => {
    bedrock.on(ConverseCommand).resolves({
      output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't', name: 'raiden_sbk_sample', input: {} } }] } },
      stopReason: 'tool_use',
      usage: { inputTokens: -3, outputTokens: 10, totalTokens: 7 },
      $metadata: {},
    } as never);
    const error = await backend()
      .generate(SBK_REQUEST)
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toMatch(/usage\.inputTokens = -3, which is not a token count/u);
  });

  it('redacts what a Bedrock-compatible endpoint echoes back', async () => {
    bedrock.on(ConverseCommand).rejects(
      new ValidationException({
        message: 'bad header Authorization: AWS4-HMAC-SHA256 Credential=AKID/x, Signature=deadbeef0123',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = (await backend()
      .generate(SBK_REQUEST)
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(TransportError);
    expect(error.message).toContain('Authorization: AWS4-HMAC-SHA256 [redacted]');
    expect(error.message).not.toContain('deadbeef0123');
  });

  it('ends a retry wait and takes no new request once a stop is requested', async () => {
    bedrock.on(ConverseCommand).rejects(new ThrottlingException({ message: 'slow down', $metadata: { httpStatusCode: 429 } }));
    // Ctrl-C as soon as the first request has gone out.
    const stopRequested = () => bedrock.commandCalls(ConverseCommand).length > 0;
    const throttled = backend({ retry: { maxRetries: 6, baseDelayMs: 60_000, maxDelayMs: 60_000 }, stopRequested });
    await expect(throttled.generate(SBK_REQUEST)).rejects.toThrow('interrupted');
    expect(bedrock.commandCalls(ConverseCommand)).toHaveLength(1);
  });
});
