/**
 * Where model answers are kept so the same request is never paid for twice: a directory on this machine,
 * or a prefix of the outputs bucket. Core computes the keys (core/run/response-cache.ts) and decides what is
 * asked; an adapter only stores and returns entries by key.
 */
import type { TokenUsage } from './llm-backend.ts';

/** One stored answer: everything a later identical request is given instead of calling the model. */
export interface CachedResponse {
  /** The whole raw output, never cut. */
  readonly text: string;
  readonly model: string;
  /** What the answer cost when it was made. */
  readonly usage: TokenUsage;
  /** Who answered, when it differs from the backend asked (a batch result). */
  readonly backend?: string | undefined;
}

export interface ResponseCache {
  /** Human-readable location: a directory path or an s3:// URL. */
  readonly location: string;
  /** The entry of `key`, or undefined when there is none (never stored, evicted or expired). */
  get(key: string): Promise<CachedResponse | undefined>;
  /**
   * Stores `response` under `key`, replacing any entry as a whole: a reader sees the old entry, the new
   * one or none, never part of one. Several processes may put and get at once.
   */
  put(key: string, response: CachedResponse): Promise<void>;
}

/** A cache key: 64 lower-case hex digits (a SHA-256). Adapters refuse anything else, so a key is always a safe file or object name. */
export const RESPONSE_CACHE_KEY = /^[0-9a-f]{64}$/u;
