import { SglangUnavailableError, type SglangUnavailableReason } from '../llm/sglang-backend.ts';

const START_SGLANG =
  'start SGLang there (e.g. `python -m sglang.launch_server --model-path Qwen/Qwen2.5-7B-Instruct --port 30000`), pass --endpoint URL, or use --dry-run to plan without a server';

// A Record, not a switch, so that a reason added to the backend fails to compile here until it has advice.
const HINTS: Record<SglangUnavailableReason, string> = {
  unreachable: START_SGLANG,
  not_openai_compatible: `is this an OpenAI-compatible server? ${START_SGLANG}`,
  api_key_rejected: 'pass --api-key or set RAIDEN_API_KEY',
  no_model_listed: 'pass --model NAME',
  bad_url: 'use the form http://host:30000',
};

/**
 * What a CLI user can do about a backend that cannot be used, in terms of the CLI's flags; undefined when the
 * CLI has nothing to add. Printed after the error's message as `message: hint`.
 */
export function cliHint(error: unknown): string | undefined {
  return error instanceof SglangUnavailableError ? HINTS[error.reason] : undefined;
}
