/**
 * How to train on an export with each trainer, the reward wired and no prompt cut: the dataset card's
 * recipes, with lengths and batch sizes computed from the data. Each key was read in the trainer's own
 * source (test/export/trainer-facts.ts records repository, commit and file; the tests hold every recipe
 * against it).
 */
import { LLAMA_FACTORY_DATASETS, type DataFile, type ExportFormat } from './export-formats.ts';
import type { ChatTokenizer, RowTokens } from './prompt-tokens.ts';

export interface RecipeInput {
  readonly format: ExportFormat;
  readonly dataFiles: readonly DataFile[];
  /** The longest prompt, reference response and full row of the export, in tokens. */
  readonly longest: RowTokens;
  readonly tokenizer: Pick<ChatTokenizer, 'name' | 'measured' | 'model'>;
}

/** GRPO needs a group of answers per prompt; 8 is TRL's default `num_generations`, and keeps `train_batch_size * n` divisible by any GPU count that divides 8. */
const ROLLOUT_N = 8;
/** The largest prompt batch a recipe asks for; smaller exports get all their train rows in one batch. */
const MAX_TRAIN_BATCH = 256;
/** Lengths are rounded up to a multiple of this. */
const LENGTH_STEP = 128;
/** Room for a trainer's template that frames a chat a few tokens longer than the count (LLaMA-Factory's packing takes one token off cutoff_len). */
const TEMPLATE_ROOM = 16;
/** An estimated count may be short of the tokenizer's: lengths from an estimate get this much more. */
const ESTIMATE_MARGIN = 1.25;
/** Responses get room to reason longer than the references, and never less than this. */
const MIN_RESPONSE_LENGTH = 1024;

export interface RecipeSettings {
  readonly model: string;
  /** At least the longest prompt: verl's and EasyR1's max_prompt_length, TRL's max_prompt_length before 0.28. */
  readonly maxPromptLength: number;
  /** verl's and EasyR1's max_response_length, TRL's max_completion_length. */
  readonly maxResponseLength: number;
  /** At least the longest SFT row: TRL SFTConfig.max_length, LLaMA-Factory cutoff_len. */
  readonly maxLength: number;
  /** Prompts per step, no more than the train rows (verl and EasyR1 drop the last incomplete batch). */
  readonly trainBatchSize: number;
  readonly microBatchSize: number;
  readonly rolloutN: number;
  readonly trainFile: string;
  /** The validation file, or the train file when the export has no validation split. */
  readonly validationFile: string;
}

function lengthFor(tokens: number, measured: boolean): number {
  const needed = measured ? tokens : Math.ceil(tokens * ESTIMATE_MARGIN);
  return Math.ceil((needed + TEMPLATE_ROOM) / LENGTH_STEP) * LENGTH_STEP;
}

function recipeSettings(input: RecipeInput): RecipeSettings {
  const train = input.dataFiles.find((file) => file.split === 'train') ?? input.dataFiles[0];
  if (train === undefined) throw new Error('a recipe needs at least one data file');
  const validation = input.dataFiles.find((file) => file.split === 'validation') ?? train;
  // Even, so that the micro batches of 2 divide every per-GPU share of train_batch_size * ROLLOUT_N.
  const trainBatchSize = Math.max(1, Math.min(MAX_TRAIN_BATCH, train.rows - (train.rows % 2)));
  const { measured } = input.tokenizer;
  return {
    model: input.tokenizer.model,
    maxPromptLength: lengthFor(input.longest.prompt, measured),
    maxResponseLength: Math.max(MIN_RESPONSE_LENGTH, lengthFor(2 * input.longest.response, measured)),
    maxLength: lengthFor(input.longest.full, measured),
    trainBatchSize,
    microBatchSize: trainBatchSize % 2 === 0 ? 2 : 1,
    rolloutN: ROLLOUT_N,
    trainFile: train.name,
    validationFile: validation.name,
  };
}

function shell(command: string, args: readonly string[]): string {
  return ['```bash', `${command} \\`, ...args.map((arg, index) => `  ${arg}${index < args.length - 1 ? ' \\' : ''}`), '```'].join('\n');
}

function measuredBy(input: RecipeInput): string {
  return input.tokenizer.measured
    ? `counted with the ${input.tokenizer.name} tokenizer`
    : `estimated without a tokenizer, with ${Math.round((ESTIMATE_MARGIN - 1) * 100)}% added`;
}

function promptNote(input: RecipeInput, s: RecipeSettings, key: string): string {
  return `- \`${key}=${s.maxPromptLength}\`: the longest prompt of this export is ${input.longest.prompt} tokens (${measuredBy(input)}); every prompt holds the whole profile, so a shorter limit cuts or drops prompts.`;
}

function responseNote(input: RecipeInput, s: RecipeSettings, key: string): string {
  return `- \`${key}=${s.maxResponseLength}\`: twice the longest reference response (${input.longest.response} tokens), at least ${MIN_RESPONSE_LENGTH}, so the policy has room to reason.`;
}

function batchNote(input: RecipeInput, s: RecipeSettings): string {
  const train = input.dataFiles.find((file) => file.split === 'train')?.rows ?? 0;
  return `- Batch: ${s.trainBatchSize} prompts per step (the export has ${train} train rows; a batch larger than that never fills, and the trainer stops), ${s.rolloutN} answers per prompt for GRPO's groups.`;
}

function lengthNotes(input: RecipeInput, s: RecipeSettings, promptKey: string, responseKey: string): string[] {
  return [promptNote(input, s, promptKey), responseNote(input, s, responseKey), batchNote(input, s)];
}

function verl(input: RecipeInput, s: RecipeSettings): string {
  const args = (reward: string) => [
    'algorithm.adv_estimator=grpo',
    `data.train_files=$EXPORT/${s.trainFile}`,
    `data.val_files=$EXPORT/${s.validationFile}`,
    `data.train_batch_size=${s.trainBatchSize}`,
    `data.max_prompt_length=${s.maxPromptLength}`,
    `data.max_response_length=${s.maxResponseLength}`,
    'data.filter_overlong_prompts=True',
    'data.truncation=error',
    `actor_rollout_ref.model.path=${s.model}`,
    `actor_rollout_ref.actor.ppo_mini_batch_size=${s.trainBatchSize}`,
    `actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=${s.microBatchSize}`,
    'actor_rollout_ref.actor.use_kl_loss=True',
    'actor_rollout_ref.rollout.name=vllm',
    `actor_rollout_ref.rollout.n=${s.rolloutN}`,
    `actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=${s.microBatchSize}`,
    `actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=${s.microBatchSize}`,
    `${reward}.path=$EXPORT/raiden_reward.py`,
    `${reward}.name=compute_score`,
    'trainer.n_gpus_per_node=8',
    'trainer.nnodes=1',
  ];
  return [
    'verl 0.7.1 and later (`EXPORT` is this directory; verl 0.9.0 reads the reward only from `reward.custom_reward_function`):',
    '',
    shell('python3 -m verl.trainer.main_ppo', args('reward.custom_reward_function')),
    '',
    'verl before 0.7.1, whose reward settings were top-level:',
    '',
    shell('python3 -m verl.trainer.main_ppo', args('custom_reward_function')),
    '',
    ...lengthNotes(input, s, 'data.max_prompt_length', 'data.max_response_length'),
    '- `data.filter_overlong_prompts=True` drops, rather than cuts from the left, any prompt longer than the limit (a later export of longer profiles); `actor_rollout_ref.rollout.name` has no default.',
    '- Set `trainer.n_gpus_per_node` to your GPUs (1, 2, 4 or 8 keep the batch divisible).',
    '',
    '`compute_score(data_source, solution_str, ground_truth, extra_info=None, format_weight=0.0)` scores each response; `+reward.custom_reward_function.reward_kwargs.format_weight=0.1` (before 0.7.1 `+custom_reward_function.reward_kwargs.format_weight=0.1`) adds the format term.',
  ].join('\n');
}

function easyr1(input: RecipeInput, s: RecipeSettings): string {
  return [
    'EasyR1 (`EXPORT` is this directory; the reader takes `prompt` as one user message and hands `answer` to the reward as `ground_truth`):',
    '',
    shell('python3 -m verl.trainer.main config=examples/config.yaml', [
      `data.train_files=$EXPORT/${s.trainFile}`,
      `data.val_files=$EXPORT/${s.validationFile}`,
      'data.prompt_key=prompt',
      'data.answer_key=answer',
      'data.format_prompt=null',
      `data.max_prompt_length=${s.maxPromptLength}`,
      `data.max_response_length=${s.maxResponseLength}`,
      `data.rollout_batch_size=${s.trainBatchSize}`,
      'data.filter_overlong_prompts=true',
      `worker.actor.global_batch_size=${s.trainBatchSize}`,
      `worker.rollout.n=${s.rolloutN}`,
      `worker.actor.model.model_path=${s.model}`,
      'worker.reward.reward_function=$EXPORT/raiden_reward.py:easyr1_compute_score',
    ]),
    '',
    ...lengthNotes(input, s, 'data.max_prompt_length', 'data.max_response_length'),
    '- `worker.actor.global_batch_size` must divide `data.rollout_batch_size`.',
    '',
    '`easyr1_compute_score(reward_inputs, format_weight=0.0)` (`REWARD_TYPE = "batch"`) scores each response; `worker.reward.reward_function_kwargs=\'{format_weight: 0.1}\'` adds the format term.',
  ].join('\n');
}

function trl(input: RecipeInput, s: RecipeSettings): string {
  return [
    'TRL (`EXPORT` is this directory):',
    '',
    '```python',
    'import sys',
    'from datasets import load_dataset',
    'from trl import GRPOConfig, GRPOTrainer',
    '',
    'sys.path.insert(0, EXPORT)',
    'from raiden_reward import keyword_reward',
    '',
    `data = load_dataset("parquet", data_files={"train": f"{EXPORT}/${s.trainFile}", "validation": f"{EXPORT}/${s.validationFile}"})`,
    'trainer = GRPOTrainer(',
    `    model="${s.model}",`,
    '    reward_funcs=keyword_reward,',
    `    args=GRPOConfig(output_dir="raiden-grpo", num_generations=${s.rolloutN}, max_completion_length=${s.maxResponseLength}),`,
    '    train_dataset=data["train"],',
    '    eval_dataset=data["validation"],',
    ')',
    'trainer.train()',
    '```',
    '',
    responseNote(input, s, 'max_completion_length'),
    `- TRL 0.28 and later keep the whole prompt (the longest is ${input.longest.prompt} tokens, ${measuredBy(input)}). Before 0.28, GRPOConfig cut prompts from the left at \`max_prompt_length\` (512 by default): add \`max_prompt_length=${s.maxPromptLength}\` there.`,
    `- \`num_generations=${s.rolloutN}\` answers per prompt for GRPO's groups; the generation batch (\`per_device_train_batch_size\`, 8 by default, times the processes) must be divisible by it.`,
    '',
    'TRL passes the `keywords`, `keyword_alternatives` and `kind` columns to `keyword_reward(completions, keywords, keyword_alternatives, **kwargs)`; `functools.partial(keyword_reward, format_weight=0.1)` adds the format term.',
  ].join('\n');
}

function sft(input: RecipeInput, s: RecipeSettings): string {
  const splits = new Set(input.dataFiles.map((file) => file.split));
  const template = input.tokenizer.name === 'qwen3' ? 'qwen3' : 'qwen';
  return [
    `Each line of \`${s.trainFile}\` is one conversation in the \`messages\` layout. The longest row, prompt and answer, is ${input.longest.full} tokens (${measuredBy(input)}); the lengths below keep every assistant turn whole.`,
    '',
    'TRL `SFTTrainer` (`EXPORT` is this directory):',
    '',
    '```python',
    'from datasets import load_dataset',
    'from trl import SFTConfig, SFTTrainer',
    '',
    `data = load_dataset("json", data_files={"train": f"{EXPORT}/${s.trainFile}", "validation": f"{EXPORT}/${s.validationFile}"})`,
    'trainer = SFTTrainer(',
    `    model="${s.model}",`,
    `    args=SFTConfig(output_dir="raiden-sft", max_length=${s.maxLength}),`,
    '    train_dataset=data["train"],',
    '    eval_dataset=data["validation"],',
    ')',
    'trainer.train()',
    '```',
    '',
    `\`max_length=${s.maxLength}\`: SFTConfig's default of 1024 cuts the end of longer rows, which is the assistant turn.`,
    '',
    `LLaMA-Factory: \`dataset_info.json\` beside the data names the splits \`${LLAMA_FACTORY_DATASETS.train}\`${splits.has('validation') ? ` and \`${LLAMA_FACTORY_DATASETS.validation}\`` : ''} (sharegpt formatting with role/content tags):`,
    '',
    '```bash',
    'cat > raiden_sft.yaml <<EOF',
    `model_name_or_path: ${s.model}`,
    'stage: sft',
    'do_train: true',
    'finetuning_type: lora',
    'lora_target: all',
    'dataset_dir: $EXPORT',
    `dataset: ${LLAMA_FACTORY_DATASETS.train}`,
    ...(splits.has('validation') ? [`eval_dataset: ${LLAMA_FACTORY_DATASETS.validation}`] : []),
    `template: ${template}`,
    `cutoff_len: ${s.maxLength}`,
    'output_dir: saves/raiden-sft',
    'EOF',
    'llamafactory-cli train raiden_sft.yaml',
    '```',
    '',
    `\`cutoff_len=${s.maxLength}\`: LLaMA-Factory's default of 2048 cuts longer rows.`,
    '',
    'The reward function is included so the fine-tuned model can be scored exactly as the GRPO exports score it (`raiden export --format verl|trl|easyr1` of the same run).',
  ].join('\n');
}

const RECIPES: Readonly<Record<ExportFormat, (input: RecipeInput, settings: RecipeSettings) => string>> = { verl, trl, easyr1, sft };

/** The card's "Train with it" section for the export's format. */
export function trainingRecipe(input: RecipeInput): string {
  return RECIPES[input.format](input, recipeSettings(input));
}
