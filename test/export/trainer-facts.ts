/**
 * What each trainer reads, recorded from its own source: repository, commit and file, each key the
 * recipes set with its default there, and the rules the recipes must satisfy. The recipe tests hold every
 * dataset card against these facts; when a trainer changes, record the new commit here and the tests say
 * which recipe no longer fits.
 */

export type Default = string | number | boolean | null;

export interface ConfigFacts {
  readonly repository: string;
  readonly commit: string;
  readonly file: string;
  /** Every key the source accepts that a recipe sets, with its default there; `???` is required, with no default. */
  readonly keys: Readonly<Record<string, Default>>;
}

/** verl's current release line: the reward under `reward.`; main_ppo.py no longer copies the top-level form across. */
export const VERL: ConfigFacts = {
  repository: 'verl-project/verl',
  commit: '1dda039b9c6311889a9c9a26040677e1254814f9',
  file: 'verl/trainer/config/_generated_ppo_trainer.yaml',
  keys: {
    'algorithm.adv_estimator': 'gae',
    'data.train_files': '~/data/rlhf/gsm8k/train.parquet',
    'data.val_files': '~/data/rlhf/gsm8k/test.parquet',
    'data.train_batch_size': 1024,
    'data.max_prompt_length': 512,
    'data.max_response_length': 512,
    'data.filter_overlong_prompts': false,
    'data.truncation': 'error',
    'actor_rollout_ref.model.path': '~/models/deepseek-llm-7b-chat',
    'actor_rollout_ref.actor.ppo_mini_batch_size': 256,
    'actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu': null,
    'actor_rollout_ref.actor.use_kl_loss': false,
    'actor_rollout_ref.rollout.name': '???',
    'actor_rollout_ref.rollout.n': 1,
    'actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu': null,
    'actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu': null,
    'reward.custom_reward_function.path': null,
    'reward.custom_reward_function.name': 'compute_score',
    'trainer.n_gpus_per_node': 8,
    'trainer.nnodes': 1,
  },
};

/** verl before the reward moved (v0.7.0, the last release without verl/trainer/config/reward/reward.yaml). */
export const VERL_BEFORE_0_7_1: ConfigFacts = {
  repository: 'verl-project/verl',
  commit: 'f9c855f7cf04d603c9546bc01776c74806a879c1',
  file: 'verl/trainer/config/_generated_ppo_trainer.yaml',
  keys: {
    ...Object.fromEntries(Object.entries(VERL.keys).filter(([key]) => !key.startsWith('reward.'))),
    'custom_reward_function.path': null,
    'custom_reward_function.name': 'compute_score',
  },
};

export const VERL_RULES = {
  /**
   * The reward config moved under `reward.` in 67dc84b (2026-02-11, first released in v0.7.1, commit
   * bec9ef7); main_ppo.py copied the top-level form across (migrate_legacy_reward_impl) until 45632b5
   * (2026-06-12) removed the call; v0.9.0 (483b8a0) is the first release without it
   * (verl/trainer/main_ppo.py, verl/experimental/reward_loop/reward_loop.py).
   */
  rewardMovedIn: 'v0.7.1',
  legacyRewardIgnoredFrom: 'v0.9.0',
  /**
   * Set or the run stops: actor.ppo_micro_batch_size_per_gpu (verl/workers/config/actor.py __post_init__),
   * rollout and ref log_prob_micro_batch_size_per_gpu (verl/utils/config.py validate_config; ref when a KL
   * loss needs the reference policy).
   */
  requiredPerGpuBatches: [
    'actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu',
    'actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu',
    'actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu',
  ],
  /** validate_config: train_batch_size * rollout.n divisible by the GPU count; actor.validate: train_batch_size >= ppo_mini_batch_size. */
  gpuCounts: [1, 2, 4, 8],
  /** The train dataloader drops the last incomplete batch and asserts it has one (verl/trainer/ppo/v1/trainer_base.py, ray_trainer.py). */
  dropLast: true,
  /** The overlong filter counts len(tokenizer.apply_chat_template(prompt, add_generation_prompt=True)) (verl/utils/dataset/rl_dataset.py). */
  promptCountedWithGenerationPrompt: true,
} as const;

/** EasyR1's example config, run with `config=examples/config.yaml` and overrides (verl/trainer/main.py). */
export const EASYR1: ConfigFacts = {
  repository: 'hiyouga/EasyR1',
  commit: 'b44b311b669bf1fd1aa2fc36f2251482ba33cb16',
  file: 'examples/config.yaml',
  keys: {
    'data.train_files': 'hiyouga/math12k@train',
    'data.val_files': 'hiyouga/math12k@test',
    'data.prompt_key': 'problem',
    'data.answer_key': 'answer',
    'data.format_prompt': './examples/format_prompt/math.jinja',
    'data.max_prompt_length': 2048,
    'data.max_response_length': 2048,
    'data.rollout_batch_size': 512,
    'data.filter_overlong_prompts': true,
    'worker.actor.global_batch_size': 128,
    'worker.actor.micro_batch_size_per_device_for_experience': 2,
    'worker.rollout.n': 5,
    'worker.actor.model.model_path': 'Qwen/Qwen2.5-7B-Instruct',
    'worker.reward.reward_function': './examples/reward_function/math.py:compute_score',
  },
};

export const EASYR1_RULES = {
  /** verl/trainer/ray_trainer.py: rollout_batch_size % actor.global_batch_size == 0; rollout_batch_size * n % micro_batch_size_per_device_for_experience == 0; GRPO needs n > 1. */
  globalBatchDividesRolloutBatch: true,
  /** verl/trainer/data_loader.py: drop_last=True for the train loader. */
  dropLast: true,
  /** verl/utils/dataset.py: prompt_key's string becomes [{"role": "user", "content": ...}] without format_prompt, measured with add_generation_prompt=True. */
  promptIsOneUserMessage: true,
  /** verl/workers/reward/config.py: reward_function is `path:function`. */
  rewardFunctionSeparator: ':',
} as const;

export const TRL_GRPO: ConfigFacts = {
  repository: 'huggingface/trl',
  commit: 'f2cd57710ae345ea6428ae95363267fcf38a3dc8',
  file: 'trl/trainer/grpo_config.py',
  keys: { output_dir: null, num_generations: 8, max_completion_length: 512 },
};

export const TRL_SFT: ConfigFacts = {
  repository: 'huggingface/trl',
  commit: 'f2cd57710ae345ea6428ae95363267fcf38a3dc8',
  file: 'trl/trainer/sft_config.py',
  keys: { output_dir: null, max_length: 1024 },
};

export const TRL_RULES = {
  /** Removed from GRPOConfig in 89070d2 (2026-01-17), first released in v0.28.0; it defaulted to 512 and cut prompts from the left. */
  maxPromptLengthRemovedIn: 'v0.28.0',
  /** grpo_config.py __post_init__: generation_batch_size % num_generations == 0; num_generations >= 2. */
  defaultPerDeviceTrainBatchSize: 8,
  /** GRPOTrainer / SFTTrainer __init__ keywords (trl/trainer/grpo_trainer.py, trl/trainer/sft_trainer.py). */
  grpoTrainerArguments: ['model', 'reward_funcs', 'args', 'train_dataset', 'eval_dataset'],
  sftTrainerArguments: ['model', 'args', 'train_dataset', 'eval_dataset'],
} as const;

/** LLaMA-Factory's training YAML: model, method and data arguments, and the TrainingArguments its examples set. */
export const LLAMA_FACTORY: ConfigFacts = {
  repository: 'hiyouga/LLaMA-Factory',
  commit: 'ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30',
  file: 'src/llamafactory/hparams/data_args.py, finetuning_args.py, model_args.py; examples/train_lora/qwen3_lora_sft.yaml',
  keys: {
    model_name_or_path: null,
    stage: 'sft',
    do_train: false,
    finetuning_type: 'lora',
    lora_target: 'all',
    dataset_dir: 'data',
    dataset: null,
    eval_dataset: null,
    template: null,
    cutoff_len: 2048,
    output_dir: null,
  },
};

export const LLAMA_FACTORY_RULES = {
  /** src/llamafactory/data/template.py: the ChatML templates of Qwen2.5 (`qwen`, with its default system) and Qwen3. */
  templates: ['qwen', 'qwen3'],
  /** src/llamafactory/data/parser.py DatasetAttr: the dataset_info.json fields of a sharegpt dataset. */
  datasetInfoFields: ['file_name', 'formatting', 'columns', 'tags'],
  tagNames: ['role_tag', 'content_tag', 'user_tag', 'assistant_tag', 'observation_tag', 'function_tag', 'system_tag'],
  columnNames: ['prompt', 'query', 'response', 'history', 'messages', 'system', 'tools'],
  formattings: ['alpaca', 'sharegpt', 'openai'],
} as const;
