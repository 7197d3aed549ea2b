import type { GenerateResult, LlmBackend, TokenUsage as BackendUsage } from '../ports/llm-backend.ts';
import type { ReviewCall, TokenUsage } from '../verify/sample.ts';

/** Backend usage (camelCase) in the snake_case form samples and rejects store. */
export function storedUsage(usage: BackendUsage): TokenUsage {
  return {
    input_tokens: usage.inputTokens,
    output_tokens: usage.outputTokens,
    ...(usage.cacheReadInputTokens ? { cache_read_input_tokens: usage.cacheReadInputTokens } : {}),
    ...(usage.cacheWriteInputTokens ? { cache_write_input_tokens: usage.cacheWriteInputTokens } : {}),
  };
}

export function reviewCall(purpose: string, backend: LlmBackend, result: GenerateResult): ReviewCall {
  return {
    purpose,
    backend: backend.name,
    model: result.model,
    usage: storedUsage(result.usage),
    ...(result.cache?.hit ? { cached: true } : {}),
  };
}
