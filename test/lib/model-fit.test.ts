import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config.ts';
import { modelFitAdvice, parameterBillions } from '../../lib/model-fit.ts';
import { presetServers, withDefaults } from '../../lib/fleet-layout.ts';

describe('model fit', () => {
  it.each([
    ['Qwen/Qwen2.5-72B-Instruct', 72],
    ['Qwen/Qwen2.5-14B-Instruct', 14],
    ['Qwen/Qwen2.5-7B-Instruct', 7],
    ['mistralai/Mixtral-8x7B-Instruct-v0.1', 56],
    ['Qwen/Qwen3-30B-A3B', 30],
    ['weights:models/Qwen3-32B', 32],
    ['s3://my-bucket/llama-3.1-8b/', 8],
    ['my-org/house-model', undefined],
  ])('reads the parameter count of %s', (model, billions) => {
    expect(parameterBillions(model)).toBe(billions);
  });

  it('rejects a replica whose weights exceed a GPU, saying how many GPUs it needs', () => {
    const { problems } = modelFitAdvice(withDefaults(presetServers('dp8', ['Qwen/Qwen2.5-72B-Instruct'])), 141, 0.85);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /servers\[0\] .*Qwen2.5-72B.*~134 GiB.*does not fit with tp 1: 134 GiB per GPU is more than 120 GiB.*at least 2 GPUs \(tp 2\)/,
    );
  });

  it('suggests data parallelism when a tensor-parallel model fits on one GPU with room to spare', () => {
    const advice = modelFitAdvice(withDefaults(presetServers('tp8', ['Qwen/Qwen2.5-14B-Instruct'])), 141, 0.85);
    expect(advice.problems).toEqual([]);
    expect(advice.notes[0]).toMatch(/fits on one GPU.*8 replicas with tp 1 \(layout dp8/);
    expect(modelFitAdvice(withDefaults(presetServers('tp8', ['Qwen/Qwen2.5-72B-Instruct'])), 141, 0.85)).toEqual({
      problems: [],
      notes: [],
    });
  });

  it('is part of the synth-time config checks', () => {
    expect(() => parseConfig({ layout: 'dp8' }, {})).toThrow(ConfigError);
    expect(parseConfig({ layout: 'dp8', models: 'Qwen/Qwen2.5-14B-Instruct' }, {}).notes.join('\n')).not.toMatch(/fits on one GPU/);
    expect(parseConfig({ models: 'Qwen/Qwen2.5-14B-Instruct' }, {}).notes.join('\n')).toMatch(/fits on one GPU/);
  });
});
