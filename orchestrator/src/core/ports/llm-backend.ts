/**
 * The port every model backend implements (SGLang over OpenAI-compatible HTTP, Bedrock Converse, a batch
 * wrapper, a test's scripted backend). Core depends on this file only; llm/ implements it.
 */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** A JSON Schema the answer must match, with a name (OpenAI json_schema name, Bedrock tool name). */
export interface ResponseSchema {
  readonly name: string;
  readonly schema: Record<string, unknown>;
}

/**
 * Where the part of a prompt shared by many requests ends: core's prompts put the instructions and the
 * character profile before the last occurrence of this marker in the user message, and only the slot's
 * task after it. A backend with prompt caching (Bedrock's cachePoint) caches up to there.
 */
export const PROMPT_CACHE_BOUNDARY = '</character_profile>';

/** The shared prefix of a user message and the rest; undefined when the message has no boundary. */
export function splitAtCacheBoundary(content: string): [shared: string, rest: string] | undefined {
  const end = content.lastIndexOf(PROMPT_CACHE_BOUNDARY);
  if (end < 0) return undefined;
  const at = end + PROMPT_CACHE_BOUNDARY.length;
  return [content.slice(0, at), content.slice(at)];
}

export interface GenerateRequest {
  readonly messages: readonly ChatMessage[];
  readonly schema: ResponseSchema;
  readonly maxTokens: number;
  readonly temperature: number;
  /**
   * Which answer to this exact request the caller wants: a slot's attempt, and the candidate within it
   * (filter strategy). Backends ignore it; a response cache keys by it, so a retry gets a new answer
   * rather than the one it rejected.
   */
  readonly draw?: { readonly attempt: number; readonly candidate: number };
}

export interface GenerateResult {
  readonly text: string;
  readonly model: string;
  readonly usage: TokenUsage;
  /** HTTP requests this call made, including transport retries. */
  readonly requests: number;
  /** Who answered, when it differs from the backend called (a batch result served by a wrapper). */
  readonly backend?: string;
  /**
   * Set when a response cache stands in front of the backend: the entry that holds this whole answer, and
   * whether the answer came from it (then `requests` is 0 and `usage` is what the answer cost when it was made).
   */
  readonly cache?: { readonly key: string; readonly hit: boolean };
}

export interface TokenUsage {
  /** Input tokens billed at the full rate (on Bedrock: not read from or written to the prompt cache). */
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadInputTokens?: number;
  readonly cacheWriteInputTokens?: number;
}

/** One model backend (SGLang over OpenAI-compatible HTTP, Bedrock Converse, ...), chosen by name. */
export interface LlmBackend {
  readonly name: string;
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Requests currently waiting for a response (for the progress display). */
  inFlight(): number;
  /** The models this backend calls, for messages and the report. */
  models?(): string[];
  /**
   * What the servers say they serve, beyond the model name asked for (the path of the weights, their
   * version), one entry per distinct answer: part of the response cache key, so two servers that serve
   * different weights under one name never share answers. Absent when the service names its models exactly.
   */
  servedModels?(): string[];
}

/** A call that failed at the transport level after every retry; it counts as one failed attempt. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    message: string,
    readonly requests: number,
  ) {
    super(message);
  }
}

/** The backend cannot be used at all (unreachable, wrong key): the run stops, keeping what it has. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}
