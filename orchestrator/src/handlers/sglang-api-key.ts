/**
 * The SGLang API key, read from Secrets Manager through the AWS Parameters and Secrets Lambda Extension
 * (a local HTTP cache the stack attaches as a layer), so no secret sits in the environment or the payload.
 */
import { sendHttp } from '../llm/http-client.ts';
import { sleep } from '../llm/retry-policy.ts';
import { ENV } from './handler-env.ts';

const EXTENSION_PORT = 2773;
let cached: { secretId: string; value: string } | undefined;

/** Undefined when no secret is configured (servers without a key, local runs). */
export async function sglangApiKey(): Promise<string | undefined> {
  const secretId = process.env[ENV.apiKeySecret];
  if (!secretId) return undefined;
  if (cached?.secretId === secretId) return cached.value;
  const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? String(EXTENSION_PORT);
  const url = new URL(`http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`);
  const headers = { 'X-Aws-Parameters-Secrets-Token': process.env.AWS_SESSION_TOKEN ?? '' };
  let lastError = '';
  // The extension starts with the container and may not listen yet on the first invocation.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const response = await sendHttp(url, 'GET', headers, undefined, 5_000);
      if (response.status === 200) {
        const value = (JSON.parse(response.body) as { SecretString?: string }).SecretString;
        if (typeof value === 'string') {
          cached = { secretId, value };
          return value;
        }
        lastError = 'the secret has no SecretString';
        break;
      }
      lastError = `HTTP ${response.status} ${response.body.slice(0, 200)}`;
      if (response.status < 500) break;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(200 * 2 ** attempt);
  }
  throw new Error(`cannot read the SGLang API key ${secretId} through the Parameters and Secrets extension on port ${port}: ${lastError}`);
}
