import { describe, expect, it } from 'vitest';
import {
  baseModelId,
  bedrockPrice,
  DEFAULT_PRICES,
  mergePriceFile,
  supportsPromptCaching,
  tokenCostUsd,
} from '../../../orchestrator/src/core/report/model-prices.ts';
import { runCli } from '../../support/run-cli.ts';

describe('price table', () => {
  it('finds a model by id, inference profile id or ARN', () => {
    expect(baseModelId('us.anthropic.claude-sonnet-4-5-20250929-v1:0')).toBe('anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(bedrockPrice('global.anthropic.claude-sonnet-4-5-20250929-v1:0')).toMatchObject({
      inputUsdPerMTok: 3,
      outputUsdPerMTok: 15,
      batchFactor: 0.5,
    });
    expect(bedrockPrice('arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0')?.inputUsdPerMTok).toBe(1);
    // The longest key wins: Sonnet 4.5 is not priced as Sonnet 4, nor Opus 4.1 as Opus 4.
    expect(bedrockPrice('anthropic.claude-opus-4-1-20250805-v1:0')?.inputUsdPerMTok).toBe(15);
    expect(bedrockPrice('anthropic.claude-opus-4-5-20251101-v1:0')?.inputUsdPerMTok).toBe(5);
    expect(bedrockPrice('meta.llama3-70b-instruct-v1:0')).toBeUndefined();
    expect(supportsPromptCaching('us.anthropic.claude-3-5-sonnet-20241022-v2:0')).toBe(false);
    expect(supportsPromptCaching('us.amazon.nova-pro-v1:0')).toBe(true);
  });

  it('prices cache reads and writes apart from input, and batch at the discount', () => {
    const price = bedrockPrice('us.anthropic.claude-sonnet-4-5-20250929-v1:0')!;
    const tokens = {
      input_tokens: 1_000_000,
      output_tokens: 1_000_000,
      cache_read_input_tokens: 1_000_000,
      cache_write_input_tokens: 1_000_000,
    };
    expect(tokenCostUsd(tokens, price)).toBeCloseTo(3 + 15 + 0.3 + 3.75, 6);
    expect(tokenCostUsd(tokens, price, { batch: true })).toBeCloseTo((3 + 15 + 0.3 + 3.75) / 2, 6);
  });

  it('merges a price file over the table and names what is wrong in a bad one', () => {
    const prices = mergePriceFile(
      JSON.stringify({
        as_of: '2026-02-01',
        gpu_usd_per_hour: 55,
        bedrock: { 'us.anthropic.claude-sonnet-4-5-20250929-v1:0': { inputUsdPerMTok: 2.5, outputUsdPerMTok: 12 } },
      }),
      'prices.json',
    );
    expect(prices).toMatchObject({ asOf: '2026-02-01', gpuUsdPerHour: 55 });
    expect(bedrockPrice('us.anthropic.claude-sonnet-4-5-20250929-v1:0', prices.bedrock)?.inputUsdPerMTok).toBe(2.5);
    expect(bedrockPrice('anthropic.claude-haiku-4-5-20251001-v1:0', prices.bedrock)?.inputUsdPerMTok).toBe(1);
    expect(DEFAULT_PRICES.gpuUsdPerHour).toBe(63);
    expect(() => mergePriceFile('{"bedrock": {"x": {"inputUsdPerMTok": "3"}}}', 'prices.json')).toThrow(
      /prices.json: bedrock.x.inputUsdPerMTok/u,
    );
    expect(() => mergePriceFile('not json', 'prices.json')).toThrow(/prices.json is not JSON/u);
  });

  it('the dry run prices the chosen Bedrock model from the table, with the batch discount', async () => {
    const result = await runCli([
      'generate',
      '--profiles',
      'examples/npc.json',
      '--dry-run',
      '--out',
      `/tmp/raiden-dry-${process.pid}`,
      '--bedrock-model',
      'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      '--strategy',
      'bedrock',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Bedrock \(anthropic\.claude-haiku-4-5-20251001-v1:0\)\s+4 slots\s+4\s+\d+\s+1400\s+\S+\s+\$\d+\.\d\d/u);
    expect(result.stdout).toMatch(/Bedrock batch inference\s+the same calls\s+hours, up to 24 h\s+\$\d+\.\d\d/u);
    expect(result.stdout).toMatch(
      /\$1\/\$5 per M input\/output tokens, batch inference at 50% of that;[\s\S]*prices as of \d{4}-\d{2}-\d{2}/u,
    );
  });
});
