import type {
  ContentBlock,
  ConverseCommandInput,
  ConverseCommandOutput,
  Message,
  SystemContentBlock,
} from '@aws-sdk/client-bedrock-runtime';
import { splitAtCacheBoundary } from '../core/ports/llm-backend.ts';
import type { GenerateRequest, TokenUsage } from '../core/ports/llm-backend.ts';
import { tokenCount } from './server-numbers.ts';

/** The Converse request body for one model call, without the model id (batch records carry no model id). */
export type ConverseBody = Omit<ConverseCommandInput, 'modelId'>;

const CACHE_POINT = { cachePoint: { type: 'default' } } as const;

/**
 * Converse request for a sample: the response schema becomes the one tool, forced with toolChoice, so the
 * model answers with tool input that has the sample's field names. System prompt and profile come first;
 * with `promptCaching`, a cachePoint follows the system prompt and another the profile block, so every
 * slot of a profile reads the shared prefix from the cache (Bedrock ignores a cachePoint before the model's
 * minimum prefix, 1,024 tokens for Claude Sonnet, instead of failing).
 */
export function converseBody(request: GenerateRequest, promptCaching: boolean): ConverseBody {
  const system: SystemContentBlock[] = [];
  const messages: Message[] = [];
  for (const message of request.messages) {
    if (message.role === 'system') {
      system.push({ text: message.content });
      if (promptCaching) system.push(CACHE_POINT);
      continue;
    }
    const split = promptCaching && message.role === 'user' ? splitAtCacheBoundary(message.content) : undefined;
    const content: ContentBlock[] =
      split === undefined
        ? [{ text: message.content }]
        : [{ text: split[0] }, CACHE_POINT, ...(split[1].length > 0 ? [{ text: split[1] }] : [])];
    messages.push({ role: message.role, content });
  }
  return {
    ...(system.length > 0 ? { system } : {}),
    messages,
    inferenceConfig: { maxTokens: request.maxTokens, temperature: request.temperature },
    toolConfig: {
      tools: [
        { toolSpec: { name: request.schema.name, description: TOOL_DESCRIPTION, inputSchema: { json: request.schema.schema as never } } },
      ],
      toolChoice: { tool: { name: request.schema.name } },
    },
  };
}

const TOOL_DESCRIPTION = 'Record the answer: call this tool exactly once with every required field.';

export interface ConverseAnswer {
  /** The tool input as JSON text (what the verifier parses), or the text blocks when the model used no tool. */
  readonly text: string;
  readonly usage: TokenUsage;
  readonly stopReason: string;
}

/**
 * Reads the forced tool call out of a Converse response (on-demand or a batch record's modelOutput). Throws
 * ServerDataError when a token count is not one: it would otherwise be summed into the report and its cost.
 */
export function readConverseOutput(output: Pick<ConverseCommandOutput, 'output' | 'usage' | 'stopReason'>): ConverseAnswer {
  const content = output.output?.message?.content ?? [];
  const toolUse = content.find((block) => block.toolUse !== undefined)?.toolUse;
  let text: string;
  if (toolUse !== undefined) {
    // Some models return the input as a JSON string rather than an object; pass it through as is.
    text = typeof toolUse.input === 'string' ? toolUse.input : JSON.stringify(toolUse.input ?? null);
  } else {
    text = content.map((block) => block.text ?? '').join('');
  }
  const usage = output.usage;
  const cacheRead = tokenCount(usage?.cacheReadInputTokens, 'usage.cacheReadInputTokens');
  const cacheWrite = tokenCount(usage?.cacheWriteInputTokens, 'usage.cacheWriteInputTokens');
  return {
    text,
    stopReason: output.stopReason ?? 'unknown',
    usage: {
      inputTokens: tokenCount(usage?.inputTokens, 'usage.inputTokens'),
      outputTokens: tokenCount(usage?.outputTokens, 'usage.outputTokens'),
      ...(cacheRead > 0 ? { cacheReadInputTokens: cacheRead } : {}),
      ...(cacheWrite > 0 ? { cacheWriteInputTokens: cacheWrite } : {}),
    },
  };
}
