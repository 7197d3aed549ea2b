/**
 * A run on Bedrock that cannot work (no credentials, a region that does not exist, a model id without access)
 * used to plan, write empty outputs and run for a minute before it stopped, with the reason only in
 * rejects.jsonl. One Converse call of one output token before anything is planned says why at once.
 */
import { ConverseCommand, type BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { BedrockUnavailableError, type BedrockUnavailableReason } from './bedrock-unavailable.ts';
import { isAwsRegion } from './bedrock-settings.ts';
import { redactSecrets } from './redact.ts';

export interface PreflightTarget {
  readonly modelId: string;
  readonly region: string;
  readonly endpoint?: string | undefined;
}

/** A preflight answers in a second or two; a minute means the endpoint is not there. */
const PREFLIGHT_TIMEOUT_MS = 60_000;

const CREDENTIALS_REFUSED = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
]);
const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

export async function preflightBedrock(client: BedrockRuntimeClient, target: PreflightTarget): Promise<void> {
  if (!isAwsRegion(target.region)) {
    throw new BedrockUnavailableError(
      `${JSON.stringify(target.region)} is not an AWS region name (such as us-east-1)`,
      'region',
      target.modelId,
    );
  }
  try {
    await client.send(
      new ConverseCommand({
        modelId: target.modelId,
        messages: [{ role: 'user', content: [{ text: 'Reply with OK.' }] }],
        inferenceConfig: { maxTokens: 1 },
      }),
      { abortSignal: AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS) },
    );
  } catch (error) {
    const unavailable = preflightFailure(error, target);
    if (unavailable !== undefined) throw unavailable;
    // Anything else (a throttle, a transient 5xx, a model that dislikes a one-token answer) proves the
    // credentials, the region and the model access work; the run's own retries handle the rest.
  }
}

function preflightFailure(error: unknown, target: PreflightTarget): BedrockUnavailableError | undefined {
  const err = (error ?? {}) as SdkError;
  const name = err.name ?? '';
  const message = redactSecrets((err.message ?? String(error)).slice(0, 300));
  const status = err.$metadata?.httpStatusCode;
  const model = `Bedrock model ${target.modelId} in ${target.region}`;
  const fail = (reason: BedrockUnavailableReason, text: string) => new BedrockUnavailableError(text, reason, target.modelId);
  if (name === 'CredentialsProviderError' || /could not load credentials/iu.test(message))
    return fail('credentials', `no AWS credentials found to call ${model} (${message})`);
  if (CREDENTIALS_REFUSED.has(name)) return fail('credentials', `${model} refused the AWS credentials (${name}: ${message})`);
  if (name === 'AccessDeniedException' || status === 403) return fail('access_denied', `${model} refused access (${name}: ${message})`);
  if (
    name === 'ResourceNotFoundException' ||
    (name === 'ValidationException' && /model identifier|inference profile|model id|on-demand throughput/iu.test(message))
  )
    return fail('model_not_found', `${model} cannot be called (${name}: ${message})`);
  if (NETWORK_CODES.has(err.code ?? '') || name === 'TimeoutError' || name === 'AbortError' || status === undefined) {
    const where = target.endpoint === undefined ? `Bedrock in ${target.region}` : `the Bedrock endpoint ${redactSecrets(target.endpoint)}`;
    return fail('unreachable', `cannot reach ${where} (${err.code ?? name}: ${message})`);
  }
  return undefined;
}
