import type { Language } from './language.ts';

export const SAMPLE_KINDS = ['SBK', 'CM'] as const;
export type SampleKind = (typeof SAMPLE_KINDS)[number];
export const QUESTION_TYPES = ['what', 'who', 'where', 'when', 'why', 'how'] as const;
export type QuestionType = (typeof QUESTION_TYPES)[number];
export const DIFFICULTIES = ['easy', 'medium', 'hard'] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

export interface ConversationTurn {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

export interface TokenUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
  /** Bedrock prompt caching: input tokens read from / written to the cache, priced apart from input_tokens. */
  readonly cache_read_input_tokens?: number;
  readonly cache_write_input_tokens?: number;
}

/** A model call made to review a candidate (judge, quality gate, evaluation), kept so its cost is counted. */
export interface ReviewCall {
  readonly purpose: string;
  readonly backend: string;
  readonly model: string;
  readonly usage: TokenUsage;
  /** Answered by the response cache: `usage` is what the answer cost when it was made, not in this run. */
  readonly cached?: true;
}

/** One line of samples.jsonl. Field names match the existing Python RAIDEN-R1 tooling. */
export interface Sample {
  readonly id: string;
  readonly character_name: string;
  readonly character_profile: Readonly<Record<string, string>>;
  readonly conversation_history: readonly ConversationTurn[];
  readonly question: string;
  readonly reasoning: string;
  readonly answer: string;
  readonly keywords: readonly string[];
  /** Other written forms of each keyword (35 / 三十五), one list per keyword; an answer passes with any form. */
  readonly keyword_alternatives: readonly (readonly string[])[];
  readonly question_type: QuestionType;
  readonly validation_method: 'single_term_validation' | 'multi_term_parsing';
  readonly difficulty: Difficulty;
  readonly metadata: SampleMetadata;
}

export interface SampleMetadata {
  readonly kind: SampleKind;
  readonly backend: string;
  readonly model: string;
  readonly language: Language;
  readonly strategy: string;
  readonly generated_at: string;
  readonly usage: TokenUsage;
  readonly attempt: number;
  readonly focus: string;
  /** Answered by the response cache: `usage` is what the answer cost when it was made, not in this run. */
  readonly cached?: true;
  readonly [extra: string]: unknown;
}

/** One line of rejects.jsonl: a model output that failed verification (or a call that failed for good). */
export interface RejectRecord {
  readonly slot_id: string;
  readonly attempt: number;
  readonly reason: string;
  readonly detail: string;
  /** The model's whole output (an older raiden cut a long one, naming the response cache entry that held it whole in output_key). */
  readonly raw_output: string;
  /** In runs of an older raiden: the response cache entry with the whole output, when raw_output is cut. */
  readonly output_key?: string;
  readonly backend: string;
  readonly model: string;
  readonly usage: TokenUsage;
  /** Answered by the response cache: `usage` is what the answer cost when it was made, not in this run. */
  readonly cached?: true;
  readonly rejected_at: string;
  /** Judge verdicts and gate decisions about this candidate (filter strategy, quality gates). */
  readonly review?: Readonly<Record<string, unknown>>;
  readonly review_calls?: readonly ReviewCall[];
}
