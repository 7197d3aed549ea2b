/** The dataset card's run settings without what belongs to the machine or account that made the run. */
import { describe, expect, it } from 'vitest';
import { publicSettings } from '../../orchestrator/src/core/export/dataset-card.ts';

describe('publicSettings', () => {
  it('shows files by name, hides endpoints, storage locations and ARNs, keeps model ids and plain values', () => {
    expect(
      publicSettings({
        profiles: 'data/roles/profiles.zh.json',
        seedData: '/home/someone/runs/earlier/samples.jsonl',
        priceFile: 'C:\\Users\\someone\\prices.json',
        endpoints: ['http://10.0.3.7:30000', 'https://sglang.internal.example:443/v1'],
        bedrockBatch: 's3://my-bucket/batch/',
        bedrockBatchRole: 'arn:aws:iam::123456789012:role/raiden-batch',
        keywordAgreementModels: ['bedrock:us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'sglang:Qwen/Qwen3-8B'],
        notes: './relative/file.txt',
        samplesPerProfile: 4,
        includeCm: false,
        judgeModel: null,
      }),
    ).toEqual({
      profiles: 'profiles.zh.json',
      seedData: 'samples.jsonl',
      priceFile: 'prices.json',
      endpoints: ['(not shown)', '(not shown)'],
      bedrockBatch: '(not shown)',
      bedrockBatchRole: '(not shown)',
      keywordAgreementModels: ['bedrock:us.anthropic.claude-sonnet-4-5-20250929-v1:0', 'sglang:Qwen/Qwen3-8B'],
      notes: 'file.txt',
      samplesPerProfile: 4,
      includeCm: false,
      judgeModel: null,
    });
  });
});
