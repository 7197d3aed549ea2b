/**
 * Batch records in the model's native InvokeModel format. Batch inference refuses tool calling in jobs of the
 * Converse invocation type (every record with toolConfig fails with a 400 error); a job of the InvokeModel type
 * whose records are native request bodies may use tools:
 * https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference.html
 * Only Anthropic's native format is built here: the schema becomes the one tool, forced with tool_choice, as
 * converseBody does on demand, so a batch answer is verified exactly like an on-demand one.
 */
import type { GenerateRequest, TokenUsage } from '../core/ports/llm-backend.ts';
import { ServerDataError, tokenCount } from './server-numbers.ts';

/**
 * The Anthropic Messages body of InvokeModel on Bedrock: anthropic_version must be bedrock-2023-05-31, max_tokens
 * and messages are required, a tool is {name, description, input_schema}, and tool_choice {type: "tool", name}
 * forces it. https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html
 */
export const ANTHROPIC_BEDROCK_VERSION = 'bedrock-2023-05-31';

export interface AnthropicTextBlock {
  readonly type: 'text';
  readonly text: string;
}

export interface AnthropicBody {
  readonly anthropic_version: typeof ANTHROPIC_BEDROCK_VERSION;
  readonly max_tokens: number;
  /**
   * Only temperature: Claude Sonnet 4.5 and Haiku 4.5 refuse a request that sets both temperature and top_p
   * (same page as ANTHROPIC_BEDROCK_VERSION).
   */
  readonly temperature: number;
  readonly system?: string;
  readonly messages: readonly { readonly role: 'user' | 'assistant'; readonly content: readonly AnthropicTextBlock[] }[];
  readonly tools: readonly { readonly name: string; readonly description: string; readonly input_schema: Record<string, unknown> }[];
  readonly tool_choice: { readonly type: 'tool'; readonly name: string };
}

const TOOL_DESCRIPTION = 'Record the answer: call this tool exactly once with every required field.';

/** Whether batch records for `modelId` can be written here: an Anthropic model id, inference profile or ARN. */
export function hasNativeBatchFormat(modelId: string): boolean {
  return /(^|[.:/])anthropic\./u.test(modelId);
}

/**
 * The native body of one record. No cache_control block: a batch record is priced at the batch rate, and each
 * record runs on its own, so a cache breakpoint would only add fields to check.
 */
export function anthropicBody(request: GenerateRequest): AnthropicBody {
  const system = request.messages.filter((message) => message.role === 'system').map((message) => message.content);
  const messages = request.messages.flatMap((message) =>
    message.role === 'system' ? [] : [{ role: message.role, content: [{ type: 'text' as const, text: message.content }] }],
  );
  return {
    anthropic_version: ANTHROPIC_BEDROCK_VERSION,
    max_tokens: request.maxTokens,
    temperature: request.temperature,
    ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
    messages,
    tools: [{ name: request.schema.name, description: TOOL_DESCRIPTION, input_schema: request.schema.schema }],
    tool_choice: { type: 'tool', name: request.schema.name },
  };
}

export interface NativeAnswer {
  /** The tool input as JSON text (what the verifier parses), or the text blocks when the model used no tool. */
  readonly text: string;
  readonly usage: TokenUsage;
  readonly stopReason: string;
}

interface AnthropicOutput {
  readonly content?: readonly { readonly type?: string; readonly text?: string; readonly input?: unknown }[];
  readonly stop_reason?: string;
  readonly usage?: Record<string, unknown>;
}

/**
 * Reads a batch record's modelOutput, which for an InvokeModel job is the model's native response body:
 * https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html
 * Throws ServerDataError when it is not a Messages response or a token count is not one.
 */
export function readAnthropicOutput(output: unknown): NativeAnswer {
  const body = (typeof output === 'object' && output !== null ? output : {}) as AnthropicOutput;
  if (!Array.isArray(body.content))
    throw new ServerDataError('the record output has no content array: it is not an Anthropic Messages response');
  const toolUse = body.content.find((block) => block.type === 'tool_use');
  const text =
    toolUse !== undefined
      ? typeof toolUse.input === 'string'
        ? toolUse.input
        : JSON.stringify(toolUse.input ?? null)
      : body.content.map((block) => (block.type === 'text' ? (block.text ?? '') : '')).join('');
  const usage = body.usage ?? {};
  const cacheRead = tokenCount(usage.cache_read_input_tokens, 'usage.cache_read_input_tokens');
  const cacheWrite = tokenCount(usage.cache_creation_input_tokens, 'usage.cache_creation_input_tokens');
  return {
    text,
    stopReason: body.stop_reason ?? 'unknown',
    usage: {
      inputTokens: tokenCount(usage.input_tokens, 'usage.input_tokens'),
      outputTokens: tokenCount(usage.output_tokens, 'usage.output_tokens'),
      ...(cacheRead > 0 ? { cacheReadInputTokens: cacheRead } : {}),
      ...(cacheWrite > 0 ? { cacheWriteInputTokens: cacheWrite } : {}),
    },
  };
}
